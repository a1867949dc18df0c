//! A Redis hash value with Redis's two encodings.
//!
//! * **listpack** while small: field/value pairs back to back in one
//!   exact-size byte buffer, in insertion order (see below). Lookups are
//!   linear scans, which is what Redis does too and is fast for a few
//!   hundred short entries.
//! * **hashtable** once the hash has more than `hash-max-listpack-entries`
//!   fields or a field or value longer than `hash-max-listpack-value` bytes.
//!   As in Redis the conversion is one way: a table never becomes a listpack
//!   again, even if it shrinks.
//!
//! # Why not [`crate::listpack::Listpack`] for the small encoding
//!
//! Every hash key pays for its `Box<Hash>` allocation, so `Hash` is kept to
//! 16 bytes (a `Box<[u8]>`, or a box of the table); a `Listpack` is 32 (a
//! `Vec` plus a count). The packed buffer is also tighter than both the
//! generic listpack and Redis's: hashes are never walked backwards, so an
//! entry has no back-length, only a one-byte header for strings up to 127
//! bytes, and integers in canonical form are stored in binary (0..=63 in
//! the header byte itself, others in 1 to 8 bytes), as Redis does. Values
//! are handed out as [`Bytes`], which formats integers on the fly. With
//! short strings a pair costs its bytes plus 2, against plus 4 and a 7-byte
//! header in Redis.
//!
//! # The table
//!
//! Each field/value pair is one 24-byte `Pair` cell: stored inline when
//! field and value together take at most 21 bytes (the common case: no heap
//! allocation at all), else as one exact-size heap block. The cells live in
//! [`hashbrown::HashTable`]s, so a pair costs 25 bytes of table (cell plus
//! control byte) divided by the load factor, against Redis's 24-byte
//! `dictEntry` (32 with jemalloc's rounding), two `sds` strings of at least
//! 8 bytes each and an 8-byte bucket pointer.
//!
//! The table is split into `2^depth` *segments* by the top `depth` bits of
//! the field's 64-bit hash, each segment its own `HashTable` holding on
//! average 64 to 512 pairs (`depth` grows and shrinks with the hash, like a
//! rehash). Segment `s` therefore holds exactly the fields whose hash lies in
//! `[s << (64 - depth), (s + 1) << (64 - depth))`, which is what makes HSCAN
//! cheap and correct:
//!
//! # HSCAN cursors
//!
//! Fields are returned in the order of their hash's top 32 bits (the
//! *prefix*), and a cursor `c` means "every field whose prefix is below `c`
//! has been returned". A call visits the segment containing prefix `c`,
//! takes its fields with prefix `>= c` in hash order (sorting at most one
//! segment, a few hundred entries), continues with the following segments
//! until `count` fields were gathered, and returns the prefix just after the
//! last one returned (fields sharing a prefix are always returned together),
//! or 0 when the end of the hash space was reached. Because this order does
//! not depend on the table's layout, a field present for the whole
//! iteration is returned exactly once however the hash grows or shrinks in
//! between, and no field is ever returned twice (a stronger guarantee than
//! Redis's). Cursors fit in 32 bits, so clients that keep them in a signed
//! or unsigned 64-bit integer both work. The listpack encoding, like in
//! Redis, returns everything in one call with cursor 0.
//!
//! Hashing uses one randomly seeded hasher per process (cursors stay valid
//! for the life of the process, like Redis's).

use std::fmt;
use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::intset::parse_int;
use crate::Limits;

/// Redis's `LISTPACK_MAX_SAFETY_SIZE`: a listpack never grows past 1 GB.
const LISTPACK_MAX_SAFETY_SIZE: usize = 1 << 30;

/// The directory doubles when the average segment holds more than this.
const SEG_MAX_AVG: usize = 512;
/// ... and halves when the average falls below this (hysteresis).
const SEG_MIN_AVG: usize = 64;
/// At most `2^32` segments, so that segment boundaries are whole cursor prefixes.
const MAX_DEPTH: u32 = 32;

/// One process-wide random seed for field hashes.
static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

#[inline]
fn hash_field(field: &[u8]) -> u64 {
    HASHER.hash_one(field)
}

/// The hash `hashbrown` sees inside a segment. The segment is chosen by the
/// top bits of the field hash, and `hashbrown` uses the low bits to place an
/// entry and the top 7 bits as its tag: rotating keeps both independent of
/// the segment bits.
#[inline]
fn inner_hash(h: u64) -> u64 {
    h.rotate_left(32)
}

// ---------------------------------------------------------------------------
// Bytes: a field or value handed out to callers
// ---------------------------------------------------------------------------

/// A field or value: borrowed bytes, or an integer stored in binary by the
/// listpack encoding and formatted here. Dereferences to `[u8]`.
#[derive(Clone, Copy)]
pub struct Bytes<'a>(BytesInner<'a>);

#[derive(Clone, Copy)]
enum BytesInner<'a> {
    Ref(&'a [u8]),
    /// Decimal digits in `buf[start..]`.
    Int {
        start: u8,
        buf: [u8; 20],
    },
}

impl<'a> Bytes<'a> {
    fn from_int(v: i64) -> Bytes<'static> {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = v.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        Bytes(BytesInner::Int {
            start: i as u8,
            buf,
        })
    }

    fn from_item(item: Item<'a>) -> Bytes<'a> {
        match item {
            Item::Str(s) => Bytes(BytesInner::Ref(s)),
            Item::Int(v) => Bytes::from_int(v),
        }
    }
}

impl std::ops::Deref for Bytes<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            BytesInner::Ref(s) => s,
            BytesInner::Int { start, buf } => &buf[*start as usize..],
        }
    }
}

impl AsRef<[u8]> for Bytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Bytes<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Bytes<'_> {}

impl PartialEq<[u8]> for Bytes<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.escape_ascii())
    }
}

// ---------------------------------------------------------------------------
// Packed: the "listpack" encoding
// ---------------------------------------------------------------------------

// Entry headers of the packed encoding (an entry is a header byte, maybe a
// length, then data):
/// `0x00..=0x7f`: a string of that many bytes follows.
const STR_SHORT_MAX: u8 = 0x7f;
/// `0x80..=0xbf`: the integer `header & 0x3f` (0..=63), no data bytes.
const INT_IMM: u8 = 0x80;
const INT_IMM_MAX: i64 = 0x3f;
/// `0xc0`: a LEB128 length, then that many bytes of string.
const STR_LONG: u8 = 0xc0;
/// `0xe1..=0xe8`: an integer in `header & 0x0f` little-endian two's
/// complement bytes.
const INT_N: u8 = 0xe0;

/// A decoded packed entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Item<'a> {
    /// How `data` is stored: canonical integers (exactly the strings that
    /// print back identically) in binary, everything else as bytes.
    fn of(data: &'a [u8]) -> Item<'a> {
        match parse_int(data) {
            Some(v) => Item::Int(v),
            None => Item::Str(data),
        }
    }

    /// Bytes of the encoded entry.
    fn encoded_len(self) -> usize {
        match self {
            Item::Str(s) if s.len() <= STR_SHORT_MAX as usize => 1 + s.len(),
            Item::Str(s) => 1 + varint_len(s.len()) + s.len(),
            Item::Int(v) if (0..=INT_IMM_MAX).contains(&v) => 1,
            Item::Int(v) => 1 + int_width(v),
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Item::Str(s) if s.len() <= STR_SHORT_MAX as usize => {
                out.push(s.len() as u8);
                out.extend_from_slice(s);
            }
            Item::Str(s) => {
                out.push(STR_LONG);
                let mut n = s.len();
                loop {
                    let b = (n & 0x7f) as u8;
                    n >>= 7;
                    if n == 0 {
                        out.push(b);
                        break;
                    }
                    out.push(b | 0x80);
                }
                out.extend_from_slice(s);
            }
            Item::Int(v) if (0..=INT_IMM_MAX).contains(&v) => out.push(INT_IMM | v as u8),
            Item::Int(v) => {
                let w = int_width(v);
                out.push(INT_N | w as u8);
                out.extend_from_slice(&v.to_le_bytes()[..w]);
            }
        }
    }
}

/// Bytes of the LEB128 encoding of `n`.
fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

/// The fewest little-endian two's complement bytes that hold `v`.
fn int_width(v: i64) -> usize {
    (1..8)
        .find(|&w| {
            let bits = 8 * w as u32;
            let min = -(1i64 << (bits - 1));
            let max = (1i64 << (bits - 1)) - 1;
            (min..=max).contains(&v)
        })
        .unwrap_or(8)
}

/// Decodes the entry starting at `buf[pos]`: the item and the next position.
fn decode(buf: &[u8], pos: usize) -> (Item<'_>, usize) {
    let h = buf[pos];
    if h <= STR_SHORT_MAX {
        let end = pos + 1 + h as usize;
        (Item::Str(&buf[pos + 1..end]), end)
    } else if h < STR_LONG {
        (Item::Int(i64::from(h & 0x3f)), pos + 1)
    } else if h == STR_LONG {
        let (mut len, mut i) = (0usize, 0usize);
        loop {
            let b = buf[pos + 1 + i];
            len |= usize::from(b & 0x7f) << (7 * i);
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let start = pos + 1 + i;
        (Item::Str(&buf[start..start + len]), start + len)
    } else {
        let w = (h & 0x0f) as usize;
        let data = &buf[pos + 1..pos + 1 + w];
        // Sign-extend from the top byte.
        let fill = if data[w - 1] & 0x80 != 0 { 0xff } else { 0 };
        let mut b = [fill; 8];
        b[..w].copy_from_slice(data);
        (Item::Int(i64::from_le_bytes(b)), pos + 1 + w)
    }
}

/// The listpack encoding: entries `field, value, field, value, ...` in one
/// exact-size buffer (see the [module docs](self)).
#[derive(Clone, Default, PartialEq, Eq)]
struct Packed {
    buf: Box<[u8]>,
}

/// Where a field was found: the value entry's byte range.
struct Found {
    value_start: usize,
    value_end: usize,
    /// Start of the field entry.
    field_start: usize,
}

impl Packed {
    fn pairs(&self) -> PackedPairs<'_> {
        PackedPairs {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// Number of pairs (a walk over the headers).
    fn len(&self) -> usize {
        self.pairs().count()
    }

    fn find(&self, field: &[u8]) -> Option<Found> {
        let needle = Item::of(field);
        let mut pos = 0;
        while pos < self.buf.len() {
            let (f, vpos) = decode(&self.buf, pos);
            let (_, next) = decode(&self.buf, vpos);
            // Canonical integers are always stored as integers, so comparing
            // the decoded forms is exact.
            if f == needle {
                return Some(Found {
                    value_start: vpos,
                    value_end: next,
                    field_start: pos,
                });
            }
            pos = next;
        }
        None
    }

    fn get(&self, field: &[u8]) -> Option<Item<'_>> {
        self.find(field).map(|f| decode(&self.buf, f.value_start).0)
    }

    /// Sets a field; true if it is new.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let value = Item::of(value);
        let mut enc = Vec::with_capacity(value.encoded_len() + field.len() + 1);
        match self.find(field) {
            Some(f) => {
                value.encode(&mut enc);
                self.splice(f.value_start..f.value_end, &enc);
                false
            }
            None => {
                Item::of(field).encode(&mut enc);
                value.encode(&mut enc);
                let end = self.buf.len();
                self.splice(end..end, &enc);
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(f) => {
                self.splice(f.field_start..f.value_end, &[]);
                true
            }
            None => false,
        }
    }

    /// Replaces `range` of the buffer with `bytes`, keeping the allocation
    /// exact-size (a realloc within the allocator's size class is free).
    fn splice(&mut self, range: std::ops::Range<usize>, bytes: &[u8]) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.reserve_exact(bytes.len().saturating_sub(range.len()));
        v.splice(range, bytes.iter().copied());
        self.buf = v.into_boxed_slice();
    }
}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.pairs()
                    .map(|(k, v)| (Bytes::from_item(k), Bytes::from_item(v))),
            )
            .finish()
    }
}

/// Iterator over the packed pairs, front to back.
#[derive(Clone)]
struct PackedPairs<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackedPairs<'a> {
    type Item = (Item<'a>, Item<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (k, vpos) = decode(self.buf, self.pos);
        let (v, next) = decode(self.buf, vpos);
        self.pos = next;
        Some((k, v))
    }
}

// ---------------------------------------------------------------------------
// Pair: one field and its value in 24 bytes
// ---------------------------------------------------------------------------

/// Bytes of field + value stored inline in a [`Pair`].
const PAIR_INLINE: usize = 21;

/// A field and its value. Inline when short; otherwise one heap block laid
/// out as `[LEB128 field length][field][value]`.
#[derive(Clone)]
enum Pair {
    Inline {
        flen: u8,
        vlen: u8,
        buf: [u8; PAIR_INLINE],
    },
    Heap(Box<[u8]>),
}

impl Pair {
    fn new(field: &[u8], value: &[u8]) -> Pair {
        let total = field.len() + value.len();
        if total <= PAIR_INLINE {
            let mut buf = [0u8; PAIR_INLINE];
            buf[..field.len()].copy_from_slice(field);
            buf[field.len()..total].copy_from_slice(value);
            return Pair::Inline {
                flen: field.len() as u8,
                vlen: value.len() as u8,
                buf,
            };
        }
        let mut v = Vec::with_capacity(10 + total);
        let mut n = field.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                v.push(b);
                break;
            }
            v.push(b | 0x80);
        }
        v.extend_from_slice(field);
        v.extend_from_slice(value);
        Pair::Heap(v.into_boxed_slice())
    }

    /// `(field, value)`.
    #[inline]
    fn parts(&self) -> (&[u8], &[u8]) {
        match self {
            Pair::Inline { flen, vlen, buf } => {
                let (f, v) = (*flen as usize, *vlen as usize);
                (&buf[..f], &buf[f..f + v])
            }
            Pair::Heap(b) => {
                let (mut flen, mut i) = (0usize, 0usize);
                loop {
                    let byte = b[i];
                    flen |= usize::from(byte & 0x7f) << (7 * i);
                    i += 1;
                    if byte & 0x80 == 0 {
                        break;
                    }
                }
                b[i..].split_at(flen)
            }
        }
    }

    #[inline]
    fn field(&self) -> &[u8] {
        self.parts().0
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Pair::Inline { .. } => 0,
            Pair::Heap(b) => b.len(),
        }
    }
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (k, v) = self.parts();
        write!(f, "{}={}", k.escape_ascii(), v.escape_ascii())
    }
}

// ---------------------------------------------------------------------------
// Table: the "hashtable" encoding
// ---------------------------------------------------------------------------

/// The hashtable encoding; see the [module docs](self).
#[derive(Clone, Debug)]
struct Table {
    /// `2^depth` segments; a field lives in `segs[seg_of(hash)]`.
    segs: Vec<HashTable<Pair>>,
    depth: u32,
    len: usize,
}

impl Table {
    /// A table sized for `n` pairs.
    fn with_capacity(n: usize) -> Table {
        let mut depth = 0;
        while n > SEG_MAX_AVG << depth && depth < MAX_DEPTH {
            depth += 1;
        }
        let per_seg = n >> depth;
        Table {
            segs: (0..1usize << depth)
                .map(|_| HashTable::with_capacity(per_seg))
                .collect(),
            depth,
            len: 0,
        }
    }

    #[inline]
    fn seg_of(&self, h: u64) -> usize {
        seg_index(h, self.depth)
    }

    fn get(&self, field: &[u8]) -> Option<&Pair> {
        let h = hash_field(field);
        self.segs[self.seg_of(h)].find(inner_hash(h), |p| p.field() == field)
    }

    /// Inserts or replaces; true if the field is new.
    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let h = hash_field(field);
        let s = self.seg_of(h);
        let entry = self.segs[s].entry(
            inner_hash(h),
            |p| p.field() == field,
            |p| inner_hash(hash_field(p.field())),
        );
        match entry {
            TableEntry::Occupied(mut o) => {
                *o.get_mut() = Pair::new(field, value);
                false
            }
            TableEntry::Vacant(v) => {
                v.insert(Pair::new(field, value));
                self.len += 1;
                // Capped so segment boundaries stay multiples of 2^32
                // (cursor prefixes); unreachable in practice.
                if self.len > SEG_MAX_AVG << self.depth && self.depth < MAX_DEPTH {
                    self.set_depth(self.depth + 1);
                }
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let h = hash_field(field);
        let s = self.seg_of(h);
        let seg = &mut self.segs[s];
        let Ok(o) = seg.find_entry(inner_hash(h), |p| p.field() == field) else {
            return false;
        };
        o.remove();
        self.len -= 1;
        // Give memory back like Redis's dict resize after deletes, with
        // hysteresis so alternating inserts/deletes do not thrash.
        if seg.capacity() > 64 && seg.len() * 4 < seg.capacity() {
            seg.shrink_to(seg.len() * 2, |p| inner_hash(hash_field(p.field())));
        }
        if self.depth > 0 && self.len < SEG_MIN_AVG << self.depth {
            self.set_depth(self.depth - 1);
        }
        true
    }

    /// Redistributes every pair over `2^depth` segments.
    fn set_depth(&mut self, depth: u32) {
        let per_seg = self.len >> depth;
        let mut segs: Vec<HashTable<Pair>> = (0..1usize << depth)
            .map(|_| HashTable::with_capacity(per_seg + per_seg / 8))
            .collect();
        for old in std::mem::take(&mut self.segs) {
            for p in old {
                let h = hash_field(p.field());
                segs[seg_index(h, depth)]
                    .insert_unique(inner_hash(h), p, |q| inner_hash(hash_field(q.field())));
            }
        }
        self.segs = segs;
        self.depth = depth;
    }

    /// A uniformly random pair (the table must not be empty). Rejection
    /// sampling over `segments x bound`, `bound` being at least the size of
    /// the largest segment, so every pair has the same chance.
    fn random_with_bound(&self, bound: usize, rand: &mut impl FnMut(usize) -> usize) -> &Pair {
        loop {
            let seg = &self.segs[rand(self.segs.len())];
            let i = rand(bound);
            if i < seg.len() {
                if let Some(p) = seg.iter().nth(i) {
                    return p;
                }
            }
        }
    }

    fn max_seg_len(&self) -> usize {
        self.segs.iter().map(HashTable::len).max().unwrap_or(0)
    }

    /// One HSCAN step; `cursor` is a hash prefix (see the [module docs](self)).
    fn scan<'a>(&'a self, cursor: u64, count: usize, f: &mut impl FnMut(&'a Pair)) -> u64 {
        if cursor > u64::from(u32::MAX) {
            return 0;
        }
        let count = count.max(1);
        let mut sent = 0;
        // Internally a threshold on the full 64-bit hash.
        let mut t = cursor << 32;
        loop {
            let s = self.seg_of(t);
            let mut batch: Vec<(u64, &Pair)> = self.segs[s]
                .iter()
                .map(|p| (hash_field(p.field()), p))
                .filter(|(h, _)| *h >= t)
                .collect();
            batch.sort_unstable_by_key(|(h, _)| *h);
            let need = count - sent;
            if batch.len() > need {
                // Stop after `need` fields, but never inside a prefix.
                let last = batch[need - 1].0 >> 32;
                let end = need
                    + batch[need..]
                        .iter()
                        .take_while(|(h, _)| *h >> 32 == last)
                        .count();
                if end < batch.len() {
                    for (_, p) in &batch[..end] {
                        f(p);
                    }
                    // A larger prefix exists, so this cannot overflow.
                    return last + 1;
                }
            }
            sent += batch.len();
            for (_, p) in &batch {
                f(p);
            }
            // Start of the next segment; the end of the hash space ends the scan.
            let Some(next) = seg_end(s, self.depth) else {
                return 0;
            };
            t = next;
            if sent >= count {
                // Segment boundaries are multiples of 2^32 (depth <= 32).
                return t >> 32;
            }
        }
    }

    /// Heap bytes (see [`crate::segmented_mem_bytes`]).
    fn mem_bytes(&self, samples: usize) -> usize {
        crate::segmented_mem_bytes(&self.segs, self.len, samples, Pair::heap_bytes)
    }
}

/// The segment of hash `h` among `2^depth`: its top `depth` bits.
#[inline]
fn seg_index(h: u64, depth: u32) -> usize {
    if depth == 0 {
        0
    } else {
        (h >> (64 - depth)) as usize
    }
}

/// The first hash after segment `s` (None past the last segment).
#[inline]
fn seg_end(s: usize, depth: u32) -> Option<u64> {
    let end = (s as u128 + 1) << (64 - depth);
    u64::try_from(end).ok()
}

// ---------------------------------------------------------------------------
// Hash
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Packed),
    Table(Box<Table>),
}

/// A Redis hash: a packed listpack of field/value pairs while small, a hash
/// table beyond `hash-max-listpack-*`. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Hash {
    repr: Repr,
}

impl Default for Hash {
    fn default() -> Self {
        Self::new()
    }
}

/// A `(field, value)` pair as handed out by [`struct@Hash`].
pub type PairRef<'a> = (Bytes<'a>, Bytes<'a>);

fn pair_ref(p: &Pair) -> PairRef<'_> {
    let (k, v) = p.parts();
    (Bytes(BytesInner::Ref(k)), Bytes(BytesInner::Ref(v)))
}

fn item_pair<'a>((k, v): (Item<'a>, Item<'a>)) -> PairRef<'a> {
    (Bytes::from_item(k), Bytes::from_item(v))
}

impl Hash {
    /// An empty hash (listpack encoding, no allocation).
    pub fn new() -> Self {
        Hash {
            repr: Repr::Listpack(Packed::default()),
        }
    }

    /// Number of fields (a walk over the entries while listpack-encoded).
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.len(),
            Repr::Table(t) => t.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Listpack(lp) => lp.buf.is_empty(),
            Repr::Table(t) => t.len == 0,
        }
    }

    /// The name OBJECT ENCODING prints.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True while listpack-encoded.
    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Listpack(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<Bytes<'_>> {
        match &self.repr {
            Repr::Listpack(lp) => lp.get(field).map(Bytes::from_item),
            Repr::Table(t) => t.get(field).map(|p| pair_ref(p).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.repr {
            Repr::Listpack(lp) => lp.find(field).is_some(),
            Repr::Table(t) => t.get(field).is_some(),
        }
    }

    /// Sets `field` to `value`; true if the field is new. Converts to the
    /// hashtable encoding exactly when Redis's `hashTypeSet` does: before the
    /// write if the field or the value is longer than
    /// `hash_max_listpack_value` (or the listpack would pass 1 GB), after it
    /// if the hash then has more than `hash_max_listpack_entries` fields.
    pub fn insert(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        if let Repr::Listpack(lp) = &self.repr {
            let max = limits.hash_max_listpack_value;
            if field.len() > max
                || value.len() > max
                || lp.buf.len() + field.len() + value.len() > LISTPACK_MAX_SAFETY_SIZE
            {
                self.convert();
            }
        }
        match &mut self.repr {
            Repr::Listpack(lp) => {
                let new = lp.set(field, value);
                if lp.len() > limits.hash_max_listpack_entries {
                    self.convert();
                }
                new
            }
            Repr::Table(t) => t.insert(field, value),
        }
    }

    /// A hash made in one go from `pairs` (a loaded file's), with the
    /// encoding Redis gives a hash of that many pairs of those sizes, in
    /// time linear in the pairs. None if a field repeats.
    pub fn from_pairs<'a, I>(pairs: I, limits: &Limits) -> Option<Hash>
    where
        I: ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let max = limits.hash_max_listpack_value;
        let small = pairs.len() <= limits.hash_max_listpack_entries
            && pairs.clone().all(|(f, v)| f.len() <= max && v.len() <= max);
        if small {
            let mut seen = hashbrown::HashSet::with_capacity(pairs.len());
            let mut buf = Vec::new();
            for (f, v) in pairs.clone() {
                if !seen.insert(f) {
                    return None;
                }
                Item::of(f).encode(&mut buf);
                Item::of(v).encode(&mut buf);
            }
            if buf.len() <= LISTPACK_MAX_SAFETY_SIZE {
                return Some(Hash {
                    repr: Repr::Listpack(Packed {
                        buf: buf.into_boxed_slice(),
                    }),
                });
            }
        }
        let mut t = Table::with_capacity(pairs.len());
        for (f, v) in pairs {
            if !t.insert(f, v) {
                return None;
            }
        }
        Some(Hash {
            repr: Repr::Table(Box::new(t)),
        })
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(lp) => lp.remove(field),
            Repr::Table(t) => t.remove(field),
        }
    }

    /// Converts to the hashtable encoding (no-op if already there).
    pub fn convert(&mut self) {
        if let Repr::Listpack(lp) = &self.repr {
            let mut t = Table::with_capacity(lp.len());
            for (k, v) in lp.pairs() {
                t.insert(&Bytes::from_item(k), &Bytes::from_item(v));
            }
            self.repr = Repr::Table(Box::new(t));
        }
    }

    /// Iterates over `(field, value)`: insertion order for a listpack (as in
    /// Redis), segment order for a table.
    pub fn iter(&self) -> Iter<'_> {
        let remaining = self.len();
        let inner = match &self.repr {
            Repr::Listpack(lp) => IterInner::Listpack(lp.pairs()),
            Repr::Table(t) => IterInner::Table {
                segs: t.segs.iter(),
                cur: None,
            },
        };
        Iter { inner, remaining }
    }

    /// One HSCAN step from `cursor`, calling `f` for each pair returned;
    /// returns the next cursor (0 when done). A listpack returns everything
    /// at once; a table about `count` fields. See the [module docs](self).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(PairRef<'a>)) -> u64 {
        match &self.repr {
            Repr::Listpack(lp) => {
                lp.pairs().for_each(|kv| f(item_pair(kv)));
                0
            }
            Repr::Table(t) => t.scan(cursor, count, &mut |p| f(pair_ref(p))),
        }
    }

    /// A uniformly random pair (None if empty). `rand(n)` must return a
    /// uniformly random number in `0..n`.
    pub fn random_pair(&self, mut rand: impl FnMut(usize) -> usize) -> Option<PairRef<'_>> {
        if self.is_empty() {
            return None;
        }
        match &self.repr {
            Repr::Listpack(lp) => lp.pairs().nth(rand(lp.len())).map(item_pair),
            Repr::Table(t) => Some(pair_ref(t.random_with_bound(t.max_seg_len(), &mut rand))),
        }
    }

    /// `count` uniformly random pairs, repetitions allowed, in random order
    /// (HRANDFIELD with a negative count). Empty if the hash is empty.
    pub fn random_pairs(
        &self,
        count: usize,
        mut rand: impl FnMut(usize) -> usize,
    ) -> Vec<PairRef<'_>> {
        if self.is_empty() {
            return Vec::new();
        }
        match &self.repr {
            Repr::Listpack(lp) => {
                // Like Redis's lpRandomPairs: pick indexes, then fetch them
                // all in one walk, keeping the order they were picked in.
                let len = lp.len();
                let mut picks: Vec<(usize, usize)> = (0..count).map(|i| (rand(len), i)).collect();
                picks.sort_unstable();
                let mut out: Vec<Option<PairRef<'_>>> = vec![None; count];
                let mut pairs = lp.pairs().enumerate();
                let mut cur = pairs.next();
                for (idx, order) in picks {
                    while let Some((i, _)) = cur {
                        if i >= idx {
                            break;
                        }
                        cur = pairs.next();
                    }
                    out[order] = cur.map(|(_, kv)| item_pair(kv));
                }
                out.into_iter().flatten().collect()
            }
            Repr::Table(t) => {
                let bound = t.max_seg_len();
                (0..count)
                    .map(|_| pair_ref(t.random_with_bound(bound, &mut rand)))
                    .collect()
            }
        }
    }

    /// Up to `count` distinct random pairs (HRANDFIELD with a positive
    /// count), following Redis's strategies: the whole hash in iteration
    /// order if `count >= len`; a random subset in random order if `count`
    /// is more than a third of the hash; otherwise for a listpack one
    /// selection-sampling pass (listpack order), for a table repeated random
    /// picks skipping duplicates (pick order).
    pub fn random_distinct_pairs(
        &self,
        count: usize,
        mut rand: impl FnMut(usize) -> usize,
    ) -> Vec<PairRef<'_>> {
        let len = self.len();
        if count >= len {
            return self.iter().collect();
        }
        if count.saturating_mul(3) > len {
            // Partial Fisher-Yates: the first `count` slots end up a uniform
            // random sample in random order.
            let mut all: Vec<PairRef<'_>> = self.iter().collect();
            for i in 0..count {
                let j = i + rand(len - i);
                all.swap(i, j);
            }
            all.truncate(count);
            return all;
        }
        match &self.repr {
            Repr::Listpack(lp) => {
                // Knuth's algorithm S: pick each pair with probability
                // (still needed) / (still unseen).
                let mut out = Vec::with_capacity(count);
                for (seen, kv) in lp.pairs().enumerate() {
                    if out.len() == count {
                        break;
                    }
                    if rand(len - seen) < count - out.len() {
                        out.push(item_pair(kv));
                    }
                }
                out
            }
            Repr::Table(t) => {
                let bound = t.max_seg_len();
                let mut seen: hashbrown::HashSet<&[u8]> = hashbrown::HashSet::with_capacity(count);
                let mut out = Vec::with_capacity(count);
                while out.len() < count {
                    let p = t.random_with_bound(bound, &mut rand);
                    if seen.insert(p.field()) {
                        out.push(pair_ref(p));
                    }
                }
                out
            }
        }
    }

    /// Heap bytes held (the table's allocations as requested, not as rounded
    /// up by the allocator); a table's fields are measured on `samples` of
    /// them (0: all).
    pub fn mem_bytes(&self, samples: usize) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.buf.len(),
            Repr::Table(t) => std::mem::size_of::<Table>() + t.mem_bytes(samples),
        }
    }
}

/// Iterator over a hash's `(field, value)` pairs; see [`Hash::iter`].
pub struct Iter<'a> {
    inner: IterInner<'a>,
    remaining: usize,
}

enum IterInner<'a> {
    Listpack(PackedPairs<'a>),
    Table {
        segs: std::slice::Iter<'a, HashTable<Pair>>,
        cur: Option<hashbrown::hash_table::Iter<'a, Pair>>,
    },
}

impl<'a> Iterator for Iter<'a> {
    type Item = PairRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match &mut self.inner {
            IterInner::Listpack(p) => p.next().map(item_pair),
            IterInner::Table { segs, cur } => loop {
                if let Some(p) = cur.as_mut().and_then(Iterator::next) {
                    break Some(pair_ref(p));
                }
                match segs.next() {
                    Some(s) => *cur = Some(s.iter()),
                    None => break None,
                }
            },
        };
        if item.is_some() {
            self.remaining -= 1;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl std::iter::FusedIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Hash {
    type Item = PairRef<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    type Kv = (Vec<u8>, Vec<u8>);

    fn limits(entries: usize, value: usize) -> Limits {
        Limits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..Limits::default()
        }
    }

    fn owned((k, v): PairRef<'_>) -> Kv {
        (k.to_vec(), v.to_vec())
    }

    fn get(h: &Hash, f: &[u8]) -> Option<Vec<u8>> {
        h.get(f).map(|v| v.to_vec())
    }

    /// A small deterministic generator for the `rand` callbacks.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    fn full_scan(h: &Hash, count: usize) -> Vec<Kv> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, count, |kv| out.push(owned(kv)));
            if cursor == 0 {
                return out;
            }
            assert!(cursor <= u64::from(u32::MAX));
        }
    }

    #[test]
    fn from_pairs_matches_inserting_one_by_one() {
        let limits = Limits::default();
        for n in [1usize, 20, 512, 513] {
            let fields: Vec<Vec<u8>> = (0..n).map(|i| format!("f{i}").into_bytes()).collect();
            let values: Vec<Vec<u8>> = (0..n).map(|i| (i * 7).to_string().into_bytes()).collect();
            let pairs = fields
                .iter()
                .zip(&values)
                .map(|(f, v)| (f.as_slice(), v.as_slice()));
            let bulk = Hash::from_pairs(pairs.clone(), &limits).expect("no repeats");
            let mut one = Hash::new();
            for (f, v) in pairs {
                one.insert(f, v, &limits);
            }
            assert_eq!(bulk.encoding(), one.encoding(), "{n}");
            assert_eq!(bulk.len(), n);
            for (f, v) in one.iter() {
                assert_eq!(bulk.get(&f).map(|b| b.to_vec()), Some(v.to_vec()));
            }
        }
        // A long value, and a repeated field ("10" and 10 are the same field).
        let long = vec![b'x'; 65];
        let h = Hash::from_pairs([(&b"a"[..], long.as_slice())].into_iter(), &limits).unwrap();
        assert_eq!(h.encoding(), "hashtable");
        assert!(Hash::from_pairs(
            [(&b"10"[..], &b"1"[..]), (b"10", b"2")].into_iter(),
            &limits
        )
        .is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<Pair>(), 24);
        assert_eq!(std::mem::size_of::<Hash>(), 16);
    }

    #[test]
    fn pair_inline_and_heap() {
        for (f, v) in [
            (&b""[..], &b""[..]),
            (b"field", b"value"),
            (&[7u8; 10][..], &[8u8; 11][..]),
            (&[7u8; 11][..], &[8u8; 11][..]),
            (&[1u8; 200][..], &[2u8; 3][..]),
            (&[1u8; 3][..], &[2u8; 70000][..]),
        ] {
            let p = Pair::new(f, v);
            assert_eq!(p.parts(), (f, v));
            assert_eq!(
                matches!(p, Pair::Inline { .. }),
                f.len() + v.len() <= PAIR_INLINE
            );
        }
    }

    #[test]
    fn packed_entries_roundtrip() {
        let ints = [
            0i64,
            1,
            63,
            64,
            -1,
            127,
            128,
            -128,
            -129,
            32767,
            -32768,
            1 << 40,
            i64::MAX,
            i64::MIN,
        ];
        let mut items: Vec<Vec<u8>> = ints.iter().map(|i| i.to_string().into_bytes()).collect();
        for s in [
            "",
            "-0",
            "007",
            "+1",
            " 1",
            "1 ",
            "abc",
            "9223372036854775808",
        ] {
            items.push(s.as_bytes().to_vec());
        }
        items.push(vec![b'x'; 127]);
        items.push(vec![b'y'; 128]);
        items.push(vec![b'z'; 20000]);
        for data in &items {
            let item = Item::of(data);
            let mut buf = Vec::new();
            item.encode(&mut buf);
            assert_eq!(buf.len(), item.encoded_len(), "{data:?}");
            let (back, next) = decode(&buf, 0);
            assert_eq!(next, buf.len());
            assert_eq!(&*Bytes::from_item(back), &data[..]);
        }
        // Integers are stored compactly, like Redis's listpack.
        assert_eq!(Item::of(b"63").encoded_len(), 1);
        assert_eq!(Item::of(b"100").encoded_len(), 2);
        assert_eq!(Item::of(b"12345").encoded_len(), 3);
        assert_eq!(Item::of(b"-9223372036854775808").encoded_len(), 9);
        assert_eq!(Item::of(b"value0").encoded_len(), 7);

        let l = Limits::default();
        let mut h = Hash::new();
        for (i, data) in items.iter().enumerate() {
            h.insert(data, &items[items.len() - 1 - i], &limits(1000, 100_000));
        }
        for (i, data) in items.iter().enumerate() {
            assert_eq!(
                get(&h, data).as_deref(),
                Some(&items[items.len() - 1 - i][..])
            );
        }
        // "1" and "01" are different fields.
        let mut h = Hash::new();
        h.insert(b"1", b"a", &l);
        h.insert(b"01", b"b", &l);
        assert_eq!(h.len(), 2);
        assert_eq!(get(&h, b"1").as_deref(), Some(&b"a"[..]));
        assert_eq!(get(&h, b"01").as_deref(), Some(&b"b"[..]));
        assert!(h.remove(b"1"));
        assert_eq!(get(&h, b"01").as_deref(), Some(&b"b"[..]));
        assert_eq!(h.mem_bytes(0), 5);
    }

    #[test]
    fn conversions_follow_redis() {
        let l = limits(4, 8);
        let mut h = Hash::new();
        assert!(h.is_empty());
        for i in 0..4 {
            assert!(h.insert(format!("f{i}").as_bytes(), b"v", &l));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.insert(b"f0", b"12345678", &l));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.insert(b"f4", b"v", &l));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(get(&h, b"f0").as_deref(), Some(&b"12345678"[..]));
        // One way: deleting back down keeps the table.
        for i in 0..5 {
            assert!(h.remove(format!("f{i}").as_bytes()));
        }
        assert!(h.is_empty());
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::new();
        h.insert(b"a", b"123456789", &l);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.insert(b"123456789", b"", &l);
        assert_eq!(h.encoding(), "hashtable");
        // Entries 0: the first insert converts.
        let mut h = Hash::new();
        h.insert(b"a", b"b", &limits(0, 64));
        assert_eq!(h.encoding(), "hashtable");
        // A lowered limit converts on the next write, even an update.
        let mut h = Hash::new();
        for i in 0..4 {
            h.insert(format!("f{i}").as_bytes(), b"v", &l);
        }
        h.insert(b"f0", b"w", &limits(2, 8));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(get(&h, b"f0").as_deref(), Some(&b"w"[..]));
    }

    #[test]
    fn listpack_keeps_insertion_order() {
        let l = Limits::default();
        let mut h = Hash::new();
        for k in ["c", "a", "7", "b"] {
            h.insert(k.as_bytes(), k.as_bytes(), &l);
        }
        h.insert(b"a", b"A", &l);
        h.remove(b"7");
        let got: Vec<Kv> = h.iter().map(owned).collect();
        let want: Vec<Kv> = [("c", "c"), ("a", "A"), ("b", "b")]
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(h.iter().len(), 3);
        assert_eq!(full_scan(&h, 1), want);
        assert_eq!(format!("{h:?}").matches("b\"a\"").count(), 1);
    }

    #[test]
    fn big_table_grows_shrinks_and_scans() {
        let l = Limits::default();
        let mut h = Hash::new();
        let n = 20_000;
        for i in 0..n {
            assert!(h.insert(
                format!("field:{i}").as_bytes(),
                format!("{i}").as_bytes(),
                &l
            ));
        }
        assert_eq!(h.len(), n);
        let Repr::Table(t) = &h.repr else {
            panic!("expected a table")
        };
        assert!(t.depth >= 5, "depth {}", t.depth);
        for i in (0..n).step_by(7) {
            assert_eq!(
                get(&h, format!("field:{i}").as_bytes()),
                Some(format!("{i}").into_bytes())
            );
        }
        let scanned = full_scan(&h, 10);
        assert_eq!(scanned.len(), n, "each field exactly once");
        let distinct: HashSet<_> = scanned.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(distinct.len(), n);
        assert_eq!(h.iter().count(), n);
        for i in 0..n - 10 {
            assert!(h.remove(format!("field:{i}").as_bytes()));
        }
        let Repr::Table(t) = &h.repr else {
            panic!("expected a table")
        };
        assert_eq!(t.depth, 0);
        assert_eq!(h.len(), 10);
        assert!(h.mem_bytes(0) < 4096, "{}", h.mem_bytes(0));
        assert_eq!(full_scan(&h, 3).len(), 10);
    }

    #[test]
    fn scan_survives_growth_and_shrink_midway() {
        let l = Limits::default();
        let mut h = Hash::new();
        for i in 0..3000 {
            h.insert(format!("keep:{i}").as_bytes(), b"v", &l);
        }
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = h.scan(cursor, 25, |(k, _)| {
                *seen.entry(k.to_vec()).or_default() += 1
            });
            // Grow a lot, then shrink a lot, while the scan is under way.
            if step < 40 {
                for j in 0..500 {
                    h.insert(format!("tmp:{step}:{j}").as_bytes(), b"x", &l);
                }
            } else {
                for s in 0..40 {
                    for j in 0..500 {
                        h.remove(format!("tmp:{s}:{j}").as_bytes());
                    }
                }
            }
            step += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..3000 {
            assert_eq!(
                seen.get(format!("keep:{i}").as_bytes()),
                Some(&1),
                "keep:{i}"
            );
        }
        assert!(seen.values().all(|&n| n == 1));
    }

    #[test]
    fn random_helpers() {
        let l = limits(16, 64);
        let mut rng = Rng(0x1234_5678);
        for n in [1usize, 5, 16, 17, 300] {
            let mut h = Hash::new();
            for i in 0..n {
                h.insert(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), &l);
            }
            assert_eq!(h.is_listpack(), n <= 16);
            let (k, v) = h.random_pair(|m| rng.below(m)).expect("not empty");
            assert_eq!(h.get(&k), Some(v));
            let picks = 40 * n;
            let many = h.random_pairs(picks, |m| rng.below(m));
            assert_eq!(many.len(), picks);
            let distinct: HashSet<Vec<u8>> = many.iter().map(|(k, _)| k.to_vec()).collect();
            assert_eq!(distinct.len(), n, "all fields picked eventually");
            for (k, v) in &many {
                assert_eq!(h.get(k), Some(*v));
            }
            for count in [0, 1, n / 4, n / 2, n - 1, n, n + 3] {
                let got = h.random_distinct_pairs(count, |m| rng.below(m));
                assert_eq!(got.len(), count.min(n));
                let distinct: HashSet<Vec<u8>> = got.iter().map(|(k, _)| k.to_vec()).collect();
                assert_eq!(distinct.len(), got.len());
                for (k, v) in &got {
                    assert_eq!(h.get(k), Some(*v));
                }
            }
        }
        let empty = Hash::new();
        assert!(empty.random_pair(|m| rng.below(m)).is_none());
        assert!(empty.random_pairs(3, |m| rng.below(m)).is_empty());
        assert!(empty.random_distinct_pairs(3, |m| rng.below(m)).is_empty());
    }

    #[test]
    fn random_pairs_are_fair() {
        for entries in [0, 10_000] {
            let l = limits(entries, 64);
            let mut h = Hash::new();
            for i in 0..2000 {
                h.insert(format!("f{i}").as_bytes(), b"", &l);
            }
            let mut rng = Rng(99);
            let picks = h.random_pairs(200_000, |m| rng.below(m));
            let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
            for (k, _) in picks {
                *counts.entry(k.to_vec()).or_default() += 1;
            }
            assert_eq!(counts.len(), 2000);
            // Expected 100 each; a fair sampler stays well within these bounds.
            assert!(counts.values().all(|&c| (40..=170).contains(&c)));
        }
    }

    // ----- property test against a HashMap model -----

    /// An HSCAN in progress: cursor, fields seen, fields present since it began.
    type ScanState = (u64, HashSet<Vec<u8>>, HashSet<Vec<u8>>);

    #[derive(Clone, Debug)]
    enum Op {
        Set(u8, Vec<u8>),
        Del(u8),
        Get(u8),
        /// Scan a step with this count, modifying in between steps.
        ScanStep(usize),
        Iterate,
        Random(usize),
    }

    fn field(k: u8) -> Vec<u8> {
        // Short fields, integer-looking ones, and a few long enough to pass
        // the value limit.
        match k % 16 {
            15 => format!("long-field-{k:03}-xxxxxxxx").into_bytes(),
            12..=14 => format!("{}", i64::from(k) * 1000 - 20_000).into_bytes(),
            _ => format!("f{k}").into_bytes(),
        }
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..14),
            2 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            1 => (0i64..200).prop_map(|v| v.to_string().into_bytes()),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..48, value()).prop_map(|(k, v)| Op::Set(k, v)),
            3 => (0u8..48).prop_map(Op::Del),
            2 => (0u8..48).prop_map(Op::Get),
            1 => (1usize..8).prop_map(Op::ScanStep),
            1 => Just(Op::Iterate),
            1 => (0usize..12).prop_map(Op::Random),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn behaves_like_hashmap(
            entries in 0usize..8,
            value_limit in 0usize..24,
            ops in proptest::collection::vec(op(), 1..150),
            seed in 1u64..u64::MAX,
        ) {
            let l = limits(entries, value_limit);
            let mut h = Hash::new();
            let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            // Insertion order, to check the listpack's iteration order.
            let mut order: Vec<Vec<u8>> = Vec::new();
            let mut converted = false;
            let mut rng = Rng(seed);
            // An HSCAN in progress: cursor, fields seen, fields present since it began.
            let mut scan: Option<ScanState> = None;
            for op in ops {
                match op {
                    Op::Set(k, v) => {
                        let f = field(k);
                        if f.len() > value_limit || v.len() > value_limit {
                            converted = true;
                        }
                        let new = m.insert(f.clone(), v.clone()).is_none();
                        if new {
                            order.push(f.clone());
                        }
                        if m.len() > entries {
                            converted = true;
                        }
                        prop_assert_eq!(h.insert(&f, &v, &l), new);
                    }
                    Op::Del(k) => {
                        let f = field(k);
                        prop_assert_eq!(h.remove(&f), m.remove(&f).is_some());
                        order.retain(|o| *o != f);
                        if let Some((_, _, live)) = scan.as_mut() {
                            live.remove(&f);
                        }
                    }
                    Op::Get(k) => {
                        let f = field(k);
                        prop_assert_eq!(get(&h, &f), m.get(&f).cloned());
                        prop_assert_eq!(h.contains(&f), m.contains_key(&f));
                    }
                    Op::ScanStep(count) => {
                        let (cursor, mut seen, live) = scan.take().unwrap_or_else(|| {
                            (0, HashSet::new(), m.keys().cloned().collect())
                        });
                        let mut bad = None;
                        let next = h.scan(cursor, count, |(k, v)| {
                            seen.insert(k.to_vec());
                            if m.get(&*k).map(Vec::as_slice) != Some(&*v) {
                                bad = Some(k.to_vec());
                            }
                        });
                        prop_assert_eq!(bad, None);
                        prop_assert!(next <= u64::from(u32::MAX));
                        if next == 0 {
                            for f in &live {
                                prop_assert!(seen.contains(f), "scan missed {:?}", f);
                            }
                        } else {
                            scan = Some((next, seen, live));
                        }
                    }
                    Op::Iterate => {
                        let got: HashMap<Vec<u8>, Vec<u8>> = h.iter().map(owned).collect();
                        prop_assert_eq!(&got, &m);
                        prop_assert_eq!(h.iter().len(), m.len());
                        let scanned: Vec<_> = full_scan(&h, 3);
                        prop_assert_eq!(scanned.len(), m.len());
                        let scanned: HashMap<_, _> = scanned.into_iter().collect();
                        prop_assert_eq!(&scanned, &m);
                    }
                    Op::Random(count) => {
                        let got = h.random_distinct_pairs(count, |n| rng.below(n));
                        prop_assert_eq!(got.len(), count.min(m.len()));
                        for (k, v) in got {
                            prop_assert_eq!(m.get(&*k).map(Vec::as_slice), Some(&*v));
                        }
                        let got = h.random_pairs(count, |n| rng.below(n));
                        prop_assert_eq!(got.len(), if m.is_empty() { 0 } else { count });
                        for (k, v) in got {
                            prop_assert_eq!(m.get(&*k).map(Vec::as_slice), Some(&*v));
                        }
                    }
                }
                prop_assert_eq!(h.len(), m.len());
                prop_assert_eq!(h.is_empty(), m.is_empty());
                prop_assert_eq!(h.encoding(), if converted { "hashtable" } else { "listpack" });
                if h.is_listpack() {
                    let keys: Vec<Vec<u8>> = h.iter().map(|(k, _)| k.to_vec()).collect();
                    prop_assert_eq!(&keys, &order);
                }
            }
        }
    }
}
