//! A Redis set value with Redis 7.2's three encodings.
//!
//! - **intset** ([`IntSet`]) while every member is an integer in canonical
//!   form ([`parse_int`], Redis's `string2ll` rules) and there are at most
//!   `set-max-intset-entries` of them;
//! - **listpack** ([`Listpack`]) while the set is small: at most
//!   `set-max-listpack-entries` members, none longer than
//!   `set-max-listpack-value` bytes. Members keep insertion order;
//! - **hashtable** beyond that (see `Table` below).
//!
//! Conversions follow Redis 7.2's `t_set.c` exactly, because they are
//! visible (OBJECT ENCODING, and the reply order of SMEMBERS & co. for the
//! two compact encodings):
//!
//! - a new set is an intset if its first member is an integer and the size
//!   hint (SADD's argument count) fits an intset, else a listpack if the hint
//!   fits a listpack, else a hashtable ([`Set::for_first`]);
//! - SADD on an existing set first converts it straight to a hashtable when
//!   the hint exceeds its encoding's entry limit ([`Set::maybe_convert`]);
//! - an intset that grows past `set-max-intset-entries` becomes a hashtable;
//!   an intset receiving a non-integer becomes a listpack when the result
//!   fits one (the integers, formatted, counting against the value limit),
//!   a hashtable otherwise;
//! - a listpack that would exceed either limit becomes a hashtable;
//! - sets never convert back on removal; only sets built afresh (the
//!   results of SINTERSTORE, SUNIONSTORE and SDIFFSTORE, and the survivors
//!   of SPOP with a count) start over from a compact encoding.
//!
//! The set algebra of SINTER/SUNION/SDIFF (and their STORE variants) is here
//! too ([`union`], [`difference`], [`intersection`], [`intersection_store`]),
//! built the way Redis builds it so the result has Redis's encoding and, for
//! compact results, Redis's member order.
//!
//! # The hashtable and SSCAN
//!
//! The hashtable encoding is a `Table`: `2^bits` hashbrown tables
//! ("segments") of `Compact` members (inline up to 22 bytes, one
//! allocation beyond). A member's *position* is 63 bits of its hash (one
//! process-wide seed, so positions are stable while the process lives); its
//! segment is the top `bits` bits of the position, so segment `i` holds
//! exactly the positions of the `i`-th slice of `[0, 2^63)`. The segment
//! count doubles when the average segment exceeds `SEG_GROW` members (or
//! one exceeds `SEG_MAX`) and halves below `SEG_SHRINK`.
//!
//! An SSCAN cursor is a position: "every member whose position is below the
//! cursor has been returned". A call returns the members with positions in
//! `[cursor, next)`, about COUNT of them, where `next` is the following
//! member's position or a segment boundary; `2^63` (done) is reported as 0.
//! Because positions never change, the intervals of successive calls tile
//! `[0, 2^63)` however the table is split or merged between calls, so every
//! member present for the whole scan is returned exactly once (members added
//! or removed meanwhile may or may not be). A call costs one segment pass
//! (hashing its members to sort them by position) per segment it visits.
//!
//! Random members (SRANDMEMBER, SPOP) are uniform: a hashtable picks a
//! random segment and a random slot below `SEG_MAX`, retrying when the slot
//! is past the segment's length (rejection sampling, expected at most
//! `SEG_MAX / SEG_SHRINK` tries), with a bounded fall-back to a linear walk.
//! Random choices take a caller-supplied `rng(n)` returning a uniform index
//! below `n`, which keeps this crate free of a random number generator.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::intset::{self, parse_int, IntSet};
use crate::listpack::{self, Listpack};
use crate::Limits;

/// Redis refuses to grow a listpack past 1 GB (`LISTPACK_MAX_SAFETY_SIZE`).
const LISTPACK_MAX_SAFETY_SIZE: usize = 1 << 30;

/// Redis caps intsets at 2^30 entries whatever `set-max-intset-entries` says.
fn intset_max(lim: &Limits) -> usize {
    lim.set_max_intset_entries.min(1 << 30)
}

/// SPOP with a count rebuilds the set from the survivors once fewer than
/// 1/5 of the popped count would remain (Redis's `SPOP_MOVE_STRATEGY_MUL`).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// SRANDMEMBER with a count copies the set and removes from the copy when
/// the count is over a third of the set (`SRANDMEMBER_SUB_STRATEGY_MUL`).
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

// ---------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------

/// One member as stored: an integer (intset) or bytes (listpack, hashtable).
/// Both spell the member's bytes; an integer in canonical decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Member<'_> {
    /// Runs `f` on the member's bytes (integers formatted on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => f(IntBuf::default().format(v)),
            Member::Str(s) => f(s),
        }
    }

    /// The member's bytes.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }

    /// The member as an integer, if it is one in canonical form.
    pub fn as_int(self) -> Option<i64> {
        match self {
            Member::Int(v) => Some(v),
            Member::Str(s) => parse_int(s),
        }
    }
}

/// Stack space for the decimal text of an `i64`.
#[derive(Default)]
struct IntBuf([u8; 20]);

impl IntBuf {
    fn format(&mut self, v: i64) -> &[u8] {
        let mut i = self.0.len();
        let mut u = v.unsigned_abs();
        loop {
            i -= 1;
            self.0[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        if v < 0 {
            i -= 1;
            self.0[i] = b'-';
        }
        &self.0[i..]
    }
}

/// Length of the decimal text of `v` (Redis's `sdigits10`, sign included).
fn digits(v: i64) -> usize {
    IntBuf::default().format(v).len()
}

/// Bytes stored inline in a [`Compact`].
const INLINE: usize = 22;

/// A hashtable member in 24 bytes: inline up to [`INLINE`] bytes (most
/// members), otherwise one exact-size allocation.
#[derive(Clone)]
enum Compact {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Compact {
    fn new(b: &[u8]) -> Self {
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            Compact::Inline {
                len: b.len() as u8,
                buf,
            }
        } else {
            Compact::Heap(b.into())
        }
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Compact::Inline { len, buf } => &buf[..*len as usize],
            Compact::Heap(b) => b,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Compact::Inline { .. } => 0,
            Compact::Heap(b) => b.len(),
        }
    }
}

// ---------------------------------------------------------------------------
// The hashtable encoding
// ---------------------------------------------------------------------------

/// Split when the average segment holds more members than this.
const SEG_GROW: usize = 128;
/// Merge pairs of segments when the average falls below this.
const SEG_SHRINK: usize = 32;
/// No segment may hold more (splits are forced); bounds rejection sampling.
const SEG_MAX: usize = 512;
/// Never more than 2^MAX_BITS segments (a guard against a broken hash).
const MAX_BITS: u32 = 40;
/// Positions are below this; a cursor at it means "done".
const POS_END: u64 = 1 << 63;

/// One process-wide seed: positions (and so SSCAN cursors) stay valid
/// across calls and across every set.
static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

/// A member's position in `[0, 2^63)`: its scan order and segment.
#[inline]
fn position(m: &[u8]) -> u64 {
    HASHER.hash_one(m) >> 1
}

/// The hash hashbrown sees inside a segment. The segment's members share
/// their top position bits, and hashbrown takes its 7-bit tag from the top
/// bits, so the position is remixed (murmur3's finalizer) first.
#[inline]
fn mix(pos: u64) -> u64 {
    let mut h = pos;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn rehash(m: &Compact) -> u64 {
    mix(position(m.bytes()))
}

/// The hashtable encoding: `2^bits` hashbrown segments split by position;
/// see the [module docs](self).
#[derive(Clone)]
struct Table {
    segs: Vec<HashTable<Compact>>,
    bits: u32,
    len: usize,
}

impl Table {
    fn new() -> Self {
        Table {
            segs: vec![HashTable::new()],
            bits: 0,
            len: 0,
        }
    }

    #[inline]
    fn seg_of(&self, pos: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (pos >> (63 - self.bits)) as usize
        }
    }

    /// First position after segment `i`.
    fn seg_end(&self, i: usize) -> u64 {
        (i as u64 + 1) << (63 - self.bits)
    }

    fn contains(&self, m: &[u8]) -> bool {
        let pos = position(m);
        self.segs[self.seg_of(pos)]
            .find(mix(pos), |x| x.bytes() == m)
            .is_some()
    }

    fn insert(&mut self, m: &[u8]) -> bool {
        let pos = position(m);
        let i = self.seg_of(pos);
        match self.segs[i].entry(mix(pos), |x| x.bytes() == m, rehash) {
            Entry::Occupied(_) => return false,
            Entry::Vacant(v) => {
                v.insert(Compact::new(m));
            }
        }
        self.len += 1;
        if self.len > self.segs.len() * SEG_GROW {
            self.split();
        }
        while self.bits < MAX_BITS && self.segs[self.seg_of(pos)].len() > SEG_MAX {
            self.split();
        }
        true
    }

    fn remove(&mut self, m: &[u8]) -> bool {
        let pos = position(m);
        let i = self.seg_of(pos);
        match self.segs[i].find_entry(mix(pos), |x| x.bytes() == m) {
            Ok(o) => {
                o.remove();
            }
            Err(_) => return false,
        }
        self.len -= 1;
        let seg = &mut self.segs[i];
        // Give memory back once a segment is mostly empty, as Redis shrinks
        // a dict below 10% fill.
        if seg.capacity() > 16 && seg.len() * 8 < seg.capacity() {
            seg.shrink_to(seg.len(), rehash);
        }
        if self.segs.len() > 1 && self.len < self.segs.len() * SEG_SHRINK {
            self.merge();
        }
        true
    }

    /// Doubles the segment count: segment `i` splits into `2i` and `2i+1`.
    fn split(&mut self) {
        self.bits += 1;
        let old = std::mem::take(&mut self.segs);
        let mut segs: Vec<HashTable<Compact>> =
            (0..old.len() * 2).map(|_| HashTable::new()).collect();
        for (i, seg) in old.into_iter().enumerate() {
            let half = seg.len() / 2 + seg.len() / 8 + 1;
            segs[2 * i].reserve(half, rehash);
            segs[2 * i + 1].reserve(half, rehash);
            for m in seg {
                let pos = position(m.bytes());
                segs[self.seg_of(pos)].insert_unique(mix(pos), m, rehash);
            }
        }
        self.segs = segs;
    }

    /// Halves the segment count, unless a merged segment would exceed
    /// [`SEG_MAX`].
    fn merge(&mut self) {
        if self
            .segs
            .chunks(2)
            .any(|p| p.iter().map(HashTable::len).sum::<usize>() > SEG_MAX)
        {
            return;
        }
        self.bits -= 1;
        let old = std::mem::take(&mut self.segs);
        let mut segs = Vec::with_capacity(old.len() / 2);
        let mut it = old.into_iter();
        while let (Some(mut a), Some(b)) = (it.next(), it.next()) {
            a.reserve(b.len(), rehash);
            for m in b {
                let h = rehash(&m);
                a.insert_unique(h, m, rehash);
            }
            segs.push(a);
        }
        self.segs = segs;
    }

    /// A uniformly random member (the table must not be empty).
    fn random<R: FnMut(usize) -> usize>(&self, rng: &mut R) -> &[u8] {
        if self.segs.len() > 1 {
            // Each try picks any given member with probability
            // 1 / (segments * SEG_MAX): uniform once a try succeeds.
            for _ in 0..64 {
                let seg = &self.segs[rng(self.segs.len())];
                let r = rng(SEG_MAX);
                if r < seg.len() {
                    if let Some(m) = seg.iter().nth(r) {
                        return m.bytes();
                    }
                }
            }
        }
        let mut r = rng(self.len.max(1));
        for seg in &self.segs {
            if r < seg.len() {
                if let Some(m) = seg.iter().nth(r) {
                    return m.bytes();
                }
            }
            r -= seg.len();
        }
        b""
    }

    /// One SSCAN step from `cursor`; see the [module docs](self).
    fn scan(&self, cursor: u64, count: usize, f: &mut dyn FnMut(Member<'_>)) -> u64 {
        let mut pos = cursor;
        let mut emitted = 0;
        let count = count.max(1);
        while pos < POS_END {
            let i = self.seg_of(pos);
            let end = self.seg_end(i);
            let mut cand: Vec<(u64, &[u8])> = self.segs[i]
                .iter()
                .map(|m| (position(m.bytes()), m.bytes()))
                .filter(|(p, _)| *p >= pos)
                .collect();
            if emitted + cand.len() <= count {
                for (_, m) in &cand {
                    f(Member::Str(m));
                }
                emitted += cand.len();
                pos = end;
                if emitted >= count {
                    break;
                }
                continue;
            }
            cand.sort_unstable_by_key(|c| c.0);
            // Never split equal positions between two calls.
            let mut take = count - emitted;
            while take < cand.len() && cand[take].0 == cand[take - 1].0 {
                take += 1;
            }
            for (_, m) in &cand[..take] {
                f(Member::Str(m));
            }
            pos = cand.get(take).map_or(end, |c| c.0);
            break;
        }
        if pos >= POS_END {
            0
        } else {
            pos
        }
    }

    fn iter(&self) -> TableIter<'_> {
        let mut segs = self.segs.iter();
        let cur = segs.next().map(HashTable::iter);
        TableIter {
            segs,
            cur,
            left: self.len,
        }
    }

    /// Heap bytes (see [`crate::segmented_mem_bytes`]).
    fn mem_bytes(&self, samples: usize) -> usize {
        crate::segmented_mem_bytes(&self.segs, self.len, samples, Compact::heap_bytes)
    }

    /// Checks the segment invariants.
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.segs.len(), 1 << self.bits);
        assert_eq!(
            self.segs.iter().map(HashTable::len).sum::<usize>(),
            self.len
        );
        for (i, seg) in self.segs.iter().enumerate() {
            assert!(seg.len() <= SEG_MAX, "segment {i} holds {}", seg.len());
            for m in seg {
                assert_eq!(self.seg_of(position(m.bytes())), i);
            }
        }
        if self.segs.len() > 1 {
            assert!(self.len >= self.segs.len() * SEG_SHRINK);
        }
        assert!(self.len <= self.segs.len() * SEG_GROW);
    }
}

struct TableIter<'a> {
    segs: std::slice::Iter<'a, HashTable<Compact>>,
    cur: Option<hashbrown::hash_table::Iter<'a, Compact>>,
    left: usize,
}

impl<'a> Iterator for TableIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(m) = self.cur.as_mut()?.next() {
                self.left -= 1;
                return Some(m.bytes());
            }
            self.cur = Some(self.segs.next()?.iter());
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

// ---------------------------------------------------------------------------
// The set
// ---------------------------------------------------------------------------

#[derive(Clone)]
enum Repr {
    Int(IntSet),
    Pack(Listpack),
    Hash(Table),
}

/// A Redis set value; see the [module docs](self).
#[derive(Clone)]
pub struct Set {
    repr: Repr,
}

impl Default for Set {
    /// An empty intset (Redis's `createIntsetObject`).
    fn default() -> Self {
        Set::new()
    }
}

impl Set {
    /// An empty intset, the start of SUNION/SDIFF results.
    pub fn new() -> Self {
        Set {
            repr: Repr::Int(IntSet::new()),
        }
    }

    /// An empty listpack-encoded set.
    pub fn new_listpack() -> Self {
        Set {
            repr: Repr::Pack(Listpack::new()),
        }
    }

    /// An empty hashtable-encoded set.
    pub fn new_hashtable() -> Self {
        Set {
            repr: Repr::Hash(Table::new()),
        }
    }

    /// A new, empty set able to hold `first`, for about `size_hint`
    /// members (Redis's `setTypeCreate`).
    pub fn for_first(first: &[u8], size_hint: usize, lim: &Limits) -> Self {
        if parse_int(first).is_some() && size_hint <= lim.set_max_intset_entries {
            Set::new()
        } else if size_hint <= lim.set_max_listpack_entries {
            Set::new_listpack()
        } else {
            Set::new_hashtable()
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Int(s) => s.len(),
            Repr::Pack(l) => l.len(),
            Repr::Hash(t) => t.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING prints.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Int(_) => "intset",
            Repr::Pack(_) => "listpack",
            Repr::Hash(_) => "hashtable",
        }
    }

    /// Approximate heap bytes held (MEMORY USAGE).
    /// Heap bytes; a hash table's members are measured on `samples` of
    /// them (0: all).
    pub fn mem_bytes(&self, samples: usize) -> usize {
        match &self.repr {
            Repr::Int(s) => s.mem_bytes(),
            Repr::Pack(l) => l.mem_bytes(),
            Repr::Hash(t) => t.mem_bytes(samples),
        }
    }

    /// Converts to a hashtable before adding about `size_hint` members, when
    /// that many would not fit the current encoding (`setTypeMaybeConvert`).
    pub fn maybe_convert(&mut self, size_hint: usize, lim: &Limits) {
        let too_many = match &self.repr {
            Repr::Pack(_) => size_hint > lim.set_max_listpack_entries,
            Repr::Int(_) => size_hint > lim.set_max_intset_entries,
            Repr::Hash(_) => false,
        };
        if too_many {
            self.convert_to_hashtable();
        }
    }

    fn convert_to_hashtable(&mut self) {
        let mut t = Table::new();
        for m in self.iter() {
            m.with_bytes(|b| t.insert(b));
        }
        self.repr = Repr::Hash(t);
    }

    fn convert_to_listpack(&mut self) {
        let mut lp = Listpack::new();
        for m in self.iter() {
            m.with_bytes(|b| lp.push_back(b));
        }
        self.repr = Repr::Pack(lp);
    }

    /// Converts to an intset if every member is an integer and there are few
    /// enough (`maybeConvertToIntset`; SINTERSTORE's integer results).
    pub fn maybe_into_intset(&mut self, lim: &Limits) {
        if matches!(self.repr, Repr::Int(_)) || self.len() > intset_max(lim) {
            return;
        }
        let mut is = IntSet::new();
        for m in self.iter() {
            match m.as_int() {
                Some(v) => {
                    is.insert(v);
                }
                None => return,
            }
        }
        self.repr = Repr::Int(is);
    }

    /// True if `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Int(s) => parse_int(m).is_some_and(|v| s.contains(v)),
            Repr::Pack(l) => l.iter().any(|e| e == m),
            Repr::Hash(t) => t.contains(m),
        }
    }

    /// [`Set::contains`] for a member of another set.
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (m, &self.repr) {
            (Member::Int(v), Repr::Int(s)) => s.contains(v),
            _ => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `m` (converting as Redis does); true if it was not a member.
    pub fn insert(&mut self, m: &[u8], lim: &Limits) -> bool {
        match &mut self.repr {
            Repr::Hash(t) => t.insert(m),
            Repr::Pack(lp) => {
                if lp.iter().any(|e| e == m) {
                    return false;
                }
                if lp.len() < lim.set_max_listpack_entries
                    && m.len() <= lim.set_max_listpack_value
                    && lp.encoded_len() + m.len() <= LISTPACK_MAX_SAFETY_SIZE
                {
                    lp.push_back(m);
                } else {
                    self.convert_to_hashtable();
                    self.insert(m, lim);
                }
                true
            }
            Repr::Int(is) => {
                if let Some(v) = parse_int(m) {
                    return self.insert_int(v, lim);
                }
                // A non-integer: a listpack if everything will fit one, the
                // integers counted at their longest text.
                let n = is.len();
                let longest = match (is.iter().next(), is.iter().next_back()) {
                    (Some(lo), Some(hi)) => digits(lo).max(digits(hi)),
                    _ => 0,
                };
                if n < lim.set_max_listpack_entries
                    && m.len() <= lim.set_max_listpack_value
                    && longest <= lim.set_max_listpack_value
                    && n * (longest + 2) + m.len() <= LISTPACK_MAX_SAFETY_SIZE
                {
                    self.convert_to_listpack();
                } else {
                    self.convert_to_hashtable();
                }
                self.insert(m, lim)
            }
        }
    }

    /// Adds an integer member.
    fn insert_int(&mut self, v: i64, lim: &Limits) -> bool {
        match &mut self.repr {
            Repr::Int(is) => {
                let added = is.insert(v);
                if added && is.len() > intset_max(lim) {
                    self.convert_to_hashtable();
                }
                added
            }
            _ => self.insert(IntBuf::default().format(v), lim),
        }
    }

    /// [`Set::insert`] for a member of another set.
    pub fn insert_member(&mut self, m: Member<'_>, lim: &Limits) -> bool {
        match m {
            Member::Int(v) => self.insert_int(v, lim),
            Member::Str(s) => self.insert(s, lim),
        }
    }

    /// Removes `m`; true if it was a member. Never changes the encoding.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Int(s) => parse_int(m).is_some_and(|v| s.remove(v)),
            Repr::Pack(l) => match l.position(|e| e == m) {
                Some(i) => l.remove(i).is_some(),
                None => false,
            },
            Repr::Hash(t) => t.remove(m),
        }
    }

    /// [`Set::remove`] for a member of another set.
    pub fn remove_member(&mut self, m: Member<'_>) -> bool {
        match (m, &mut self.repr) {
            (Member::Int(v), Repr::Int(s)) => s.remove(v),
            _ => m.with_bytes(|b| self.remove(b)),
        }
    }

    /// The members: ascending for an intset, insertion order for a
    /// listpack, hash order for a hashtable.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.repr {
            Repr::Int(s) => IterRepr::Int(s.iter()),
            Repr::Pack(l) => IterRepr::Pack(l.iter()),
            Repr::Hash(t) => IterRepr::Hash(t.iter()),
        })
    }

    /// A uniformly random member (None if empty).
    pub fn random_member<R: FnMut(usize) -> usize>(&self, rng: &mut R) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        Some(match &self.repr {
            Repr::Int(s) => Member::Int(s.get(rng(s.len()))?),
            Repr::Pack(l) => Member::Str(l.get(rng(l.len()))?),
            Repr::Hash(t) => Member::Str(t.random(rng)),
        })
    }

    /// `count` members drawn with replacement (SRANDMEMBER's negative count).
    pub fn random_members_with_repeats<R: FnMut(usize) -> usize>(
        &self,
        count: usize,
        rng: &mut R,
        mut f: impl FnMut(Member<'_>),
    ) {
        if self.is_empty() {
            return;
        }
        if let Repr::Pack(l) = &self.repr {
            // Index the listpack once instead of walking it per pick.
            let all: Vec<&[u8]> = l.iter().collect();
            for _ in 0..count {
                f(Member::Str(all[rng(all.len())]));
            }
            return;
        }
        for _ in 0..count {
            if let Some(m) = self.random_member(rng) {
                f(m);
            }
        }
    }

    /// `count` distinct random members, `count < len()` (SRANDMEMBER's
    /// positive count). A listpack answers in its own order (Redis samples it
    /// in one pass); other encodings in no particular order.
    pub fn random_distinct<R: FnMut(usize) -> usize>(
        &self,
        count: usize,
        rng: &mut R,
    ) -> Vec<Member<'_>> {
        let len = self.len();
        if count >= len {
            return self.iter().collect();
        }
        if let Repr::Pack(l) = &self.repr {
            let picks = sample_sorted(len, count, rng);
            let mut picks = picks.into_iter().peekable();
            let mut out = Vec::with_capacity(count);
            for (i, e) in l.iter().enumerate() {
                if picks.peek() == Some(&i) {
                    picks.next();
                    out.push(Member::Str(e));
                }
            }
            return out;
        }
        if count * SRANDMEMBER_SUB_STRATEGY_MUL > len {
            // Close to the whole set: drop random members from a copy.
            let mut all: Vec<Member<'_>> = self.iter().collect();
            while all.len() > count {
                let i = rng(all.len());
                all.swap_remove(i);
            }
            return all;
        }
        // Far smaller than the set: draw until enough distinct ones.
        let mut seen: hashbrown::HashSet<Member<'_>> = hashbrown::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            if let Some(m) = self.random_member(rng) {
                if seen.insert(m) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// Removes and returns a uniformly random member (SPOP without count).
    pub fn pop_random<R: FnMut(usize) -> usize>(&mut self, rng: &mut R) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        if let Repr::Pack(l) = &mut self.repr {
            let i = rng(l.len());
            return l.remove(i);
        }
        let m = self.random_member(rng)?.to_vec();
        self.remove(&m);
        Some(m)
    }

    /// SPOP with `0 < count < len()`: removes `count` random members and
    /// returns them, with Redis's two strategies: pop one at a time, or, when
    /// few would remain, move random survivors into a new set (listpack, or
    /// intset for an intset) which replaces this one.
    pub fn pop_random_many<R: FnMut(usize) -> usize>(
        &mut self,
        count: usize,
        lim: &Limits,
        rng: &mut R,
    ) -> Vec<Vec<u8>> {
        let len = self.len();
        if count == 0 {
            return Vec::new();
        }
        if count >= len {
            let all = union(&[Some(&*self)], lim)
                .iter()
                .map(Member::to_vec)
                .collect();
            *self = Set::new();
            return all;
        }
        let remaining = len - count;
        if let Repr::Pack(l) = &self.repr {
            // One pass over the listpack either way: the popped members are
            // a random subset, returned and removed in listpack order.
            let keep_new = remaining * SPOP_MOVE_STRATEGY_MUL <= count;
            let picks = sample_sorted(len, if keep_new { remaining } else { count }, rng);
            let mut picks = picks.into_iter().peekable();
            let (mut popped, mut kept) = (Vec::with_capacity(count), Vec::new());
            for (i, e) in l.iter().enumerate() {
                let picked = picks.peek() == Some(&i);
                if picked {
                    picks.next();
                }
                if picked != keep_new {
                    popped.push(e.to_vec());
                } else {
                    kept.push(e);
                }
            }
            let mut rest = Set::new_listpack();
            for m in kept {
                rest.insert(m, lim);
            }
            *self = rest;
            return popped;
        }
        if remaining * SPOP_MOVE_STRATEGY_MUL > count {
            return (0..count).filter_map(|_| self.pop_random(rng)).collect();
        }
        let mut rest = match self.repr {
            Repr::Int(_) => Set::new(),
            _ => Set::new_listpack(),
        };
        for _ in 0..remaining {
            let Some(m) = self.random_member(rng).map(Member::to_vec) else {
                break;
            };
            rest.insert(&m, lim);
            self.remove(&m);
        }
        let popped = self.iter().map(Member::to_vec).collect();
        *self = rest;
        popped
    }

    /// One SSCAN step: calls `f` for the members of this step and returns
    /// the next cursor (0 when done). Compact encodings answer everything at
    /// once with cursor 0, as Redis does; see the [module docs](self) for the
    /// hashtable.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Member<'_>)) -> u64 {
        match &self.repr {
            Repr::Hash(t) => t.scan(cursor, count, &mut f),
            _ => {
                self.iter().for_each(f);
                0
            }
        }
    }
}

/// `k` distinct indexes below `n`, ascending, uniformly chosen (Knuth's
/// selection sampling, as Redis's `lpNextRandom` walks a listpack).
fn sample_sorted<R: FnMut(usize) -> usize>(n: usize, k: usize, rng: &mut R) -> Vec<usize> {
    let mut out = Vec::with_capacity(k.min(n));
    for i in 0..n {
        let need = k - out.len();
        if need == 0 {
            break;
        }
        if rng(n - i) < need {
            out.push(i);
        }
    }
    out
}

impl fmt::Debug for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Set({}) ", self.encoding())?;
        f.debug_set()
            .entries(
                self.iter()
                    .map(|m| String::from_utf8_lossy(&m.to_vec()).into_owned()),
            )
            .finish()
    }
}

/// Iterator over a set's members; see [`Set::iter`].
pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Int(intset::Iter<'a>),
    Pack(listpack::Iter<'a>),
    Hash(TableIter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match &mut self.0 {
            IterRepr::Int(i) => i.next().map(Member::Int),
            IterRepr::Pack(i) => i.next().map(Member::Str),
            IterRepr::Hash(i) => i.next().map(Member::Str),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::Int(i) => i.size_hint(),
            IterRepr::Pack(i) => i.size_hint(),
            IterRepr::Hash(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

// ---------------------------------------------------------------------------
// Set algebra
// ---------------------------------------------------------------------------

/// SUNION: every member of the given sets (None = a missing key), added in
/// argument order to a new intset, which converts as members arrive.
pub fn union(sets: &[Option<&Set>], lim: &Limits) -> Set {
    let mut dst = Set::new();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            dst.insert_member(m, lim);
        }
    }
    dst
}

/// SDIFF: the members of the first set in none of the others. Like Redis,
/// picks between checking each member of the first set against the others
/// (in the first set's order) and copying the first set then removing the
/// others' members, by estimated work; the choice shows in the result's
/// encoding. The same set (`std::ptr::eq`) given first and again later
/// yields an empty result.
pub fn difference(sets: &[Option<&Set>], lim: &Limits) -> Set {
    let mut dst = Set::new();
    let Some(Some(first)) = sets.first() else {
        return dst;
    };
    let others: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
    if others.iter().any(|s| std::ptr::eq(*s, *first)) {
        return dst;
    }
    let present = 1 + others.len();
    let algo_one = first.len() * present / 2;
    let algo_two = first.len() + others.iter().map(|s| s.len()).sum::<usize>();
    if algo_one <= algo_two {
        for m in first.iter() {
            if !others.iter().any(|s| s.contains_member(m)) {
                dst.insert_member(m, lim);
            }
        }
    } else {
        for m in first.iter() {
            dst.insert_member(m, lim);
        }
        for s in &others {
            for m in s.iter() {
                dst.remove_member(m);
            }
            if dst.is_empty() {
                break;
            }
        }
    }
    dst
}

/// The sets ordered smallest first (stable for equal sizes), as SINTER
/// walks the smallest and probes the others.
fn by_size<'a>(sets: &[&'a Set]) -> Vec<&'a Set> {
    let mut v = sets.to_vec();
    v.sort_by_key(|s| s.len());
    v
}

/// SINTER: the members common to all sets (none may be missing), in the
/// order of the smallest set.
pub fn intersection<'a>(sets: &[&'a Set]) -> Vec<Member<'a>> {
    let sets = by_size(sets);
    let Some((first, others)) = sets.split_first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|m| {
            others
                .iter()
                .all(|s| std::ptr::eq(*s, *first) || s.contains_member(*m))
        })
        .collect()
}

/// SINTERCARD: the size of the intersection, counting stops at `limit`
/// (0 = no limit).
pub fn intersection_card(sets: &[&Set], limit: usize) -> usize {
    let sets = by_size(sets);
    let Some((first, others)) = sets.split_first() else {
        return 0;
    };
    let mut n = 0;
    for m in first.iter() {
        if others
            .iter()
            .all(|s| std::ptr::eq(*s, *first) || s.contains_member(m))
        {
            n += 1;
            if n == limit {
                break;
            }
        }
    }
    n
}

/// SINTERSTORE: the intersection as a new set, encoded as Redis builds it:
/// an intset if the smallest set is one, otherwise a listpack that converts
/// as it grows, and finally an intset if every member is an integer.
pub fn intersection_store(sets: &[&Set], lim: &Limits) -> Set {
    let members = intersection(sets);
    let mut dst = match by_size(sets).first().map(|s| &s.repr) {
        Some(Repr::Int(_)) => Set::new(),
        _ => Set::new_listpack(),
    };
    let mut only_integers = true;
    for m in members {
        if only_integers && m.as_int().is_none() {
            only_integers = false;
        }
        dst.insert_member(m, lim);
    }
    if only_integers && !dst.is_empty() {
        dst.maybe_into_intset(lim);
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashSet};

    /// A small deterministic generator (xorshift64*) for `rng(n)`.
    fn rng(seed: u64) -> impl FnMut(usize) -> usize {
        let mut s = seed | 1;
        move |n: usize| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as usize % n.max(1)
        }
    }

    fn lim(intset: usize, entries: usize, value: usize) -> Limits {
        Limits {
            set_max_intset_entries: intset,
            set_max_listpack_entries: entries,
            set_max_listpack_value: value,
            ..Limits::default()
        }
    }

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(Member::to_vec).collect()
    }

    fn sorted(s: &Set) -> BTreeSet<Vec<u8>> {
        s.iter().map(Member::to_vec).collect()
    }

    fn build(items: &[&str], l: &Limits) -> Set {
        let mut s = Set::for_first(items[0].as_bytes(), items.len(), l);
        s.maybe_convert(items.len(), l);
        for i in items {
            s.insert(i.as_bytes(), l);
        }
        s
    }

    fn strs(v: &[Vec<u8>]) -> Vec<&str> {
        v.iter()
            .map(|b| std::str::from_utf8(b).unwrap_or("?"))
            .collect()
    }

    #[test]
    fn member_and_compact_sizes() {
        assert_eq!(std::mem::size_of::<Compact>(), 24);
        for v in [0, -1, 7, i64::MIN, i64::MAX, 1234567890] {
            assert_eq!(Member::Int(v).to_vec(), v.to_string().into_bytes());
            assert_eq!(digits(v), v.to_string().len());
        }
        let long = vec![b'x'; 100];
        assert_eq!(Compact::new(&long).bytes(), &long[..]);
        assert_eq!(Compact::new(b"abc").bytes(), b"abc");
    }

    #[test]
    fn creation_follows_the_size_hint() {
        let l = lim(4, 6, 8);
        assert_eq!(Set::for_first(b"1", 4, &l).encoding(), "intset");
        // More arguments than an intset may hold: a listpack from the start.
        assert_eq!(Set::for_first(b"1", 5, &l).encoding(), "listpack");
        assert_eq!(Set::for_first(b"a", 6, &l).encoding(), "listpack");
        assert_eq!(Set::for_first(b"a", 7, &l).encoding(), "hashtable");
        assert_eq!(Set::for_first(b"01", 1, &l).encoding(), "listpack");
    }

    #[test]
    fn intset_conversions() {
        let l = lim(4, 6, 8);
        let mut s = build(&["3", "1", "2"], &l);
        assert_eq!(s.encoding(), "intset");
        assert_eq!(strs(&members(&s)), ["1", "2", "3"]);
        // Non-integer: listpack keeping the intset's ascending order.
        assert!(s.insert(b"a", &l));
        assert_eq!(s.encoding(), "listpack");
        assert_eq!(strs(&members(&s)), ["1", "2", "3", "a"]);

        // Too many integers: straight to a hashtable.
        let mut s = build(&["1", "2", "3", "4"], &l);
        assert_eq!(s.encoding(), "intset");
        s.insert(b"5", &l);
        assert_eq!(s.encoding(), "hashtable");

        // A non-integer longer than the value limit: hashtable.
        let mut s = build(&["1"], &l);
        s.insert(b"abcdefghi", &l);
        assert_eq!(s.encoding(), "hashtable");

        // An integer whose text is longer than the value limit: hashtable.
        let mut s = build(&["123456789"], &l);
        assert_eq!(s.encoding(), "intset");
        s.insert(b"a", &l);
        assert_eq!(s.encoding(), "hashtable");

        // As many integers as a listpack may hold: hashtable.
        let l2 = lim(10, 3, 8);
        let mut s = build(&["1", "2", "3"], &l2);
        s.insert(b"a", &l2);
        assert_eq!(s.encoding(), "hashtable");

        // SADD with more arguments than an intset holds converts first.
        let mut s = build(&["1"], &l);
        s.maybe_convert(5, &l);
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn listpack_conversions() {
        let l = lim(4, 3, 5);
        let mut s = build(&["b", "a"], &l);
        assert_eq!(s.encoding(), "listpack");
        s.insert(b"12345", &l);
        assert_eq!(strs(&members(&s)), ["b", "a", "12345"]);
        assert!(!s.insert(b"a", &l));
        assert_eq!(s.encoding(), "listpack");
        s.insert(b"c", &l);
        assert_eq!(s.encoding(), "hashtable");

        let mut s = build(&["b"], &l);
        s.insert(b"123456", &l);
        assert_eq!(s.encoding(), "hashtable");

        // Removal never converts back.
        let mut s = build(&["a", "b", "c", "d"], &l);
        assert_eq!(s.encoding(), "hashtable");
        for m in ["a", "b", "c"] {
            assert!(s.remove(m.as_bytes()));
        }
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(strs(&members(&s)), ["d"]);
    }

    #[test]
    fn algebra_encodings_and_order() {
        let l = lim(512, 128, 64);
        let a = build(&["3", "1", "2"], &l);
        let b = build(&["x", "2", "y", "3"], &l);
        assert_eq!(b.encoding(), "listpack");
        let u = union(&[Some(&b), None, Some(&a)], &l);
        // Union builds an intset that turns into a listpack at "x".
        assert_eq!(u.encoding(), "listpack");
        assert_eq!(strs(&members(&u)), ["x", "2", "y", "3", "1"]);
        let u = union(&[Some(&a)], &l);
        assert_eq!(u.encoding(), "intset");

        let d = difference(&[Some(&b), Some(&a)], &l);
        assert_eq!(strs(&members(&d)), ["x", "y"]);
        assert!(difference(&[Some(&a), Some(&a)], &l).is_empty());
        assert!(difference(&[None, Some(&a)], &l).is_empty());
        let d = difference(&[Some(&a), None], &l);
        assert_eq!(d.encoding(), "intset");
        assert_eq!(d.len(), 3);

        let i = intersection(&[&b, &a]);
        assert_eq!(i, [Member::Int(2), Member::Int(3)]);
        let i = intersection_store(&[&b, &a], &l);
        assert_eq!(i.encoding(), "intset");
        let c = build(&["2", "3", "z"], &l);
        let i = intersection_store(&[&b, &c], &l);
        // The smallest (c) is a listpack, the result all integers: intset.
        assert_eq!(i.encoding(), "intset");
        assert_eq!(intersection_card(&[&b, &c], 0), 2);
        assert_eq!(intersection_card(&[&b, &c], 1), 1);
        let i = intersection_store(&[&b, &b], &l);
        assert_eq!(i.encoding(), "listpack");
        assert_eq!(strs(&members(&i)), ["x", "2", "y", "3"]);
    }

    #[test]
    fn spop_count_paths_keep_the_set_consistent() {
        for (items, encoding) in [
            (
                (1..=20).map(|i| i.to_string()).collect::<Vec<_>>(),
                "intset",
            ),
            ((1..=20).map(|i| format!("m{i}")).collect(), "listpack"),
            ((1..=300).map(|i| format!("m{i}")).collect(), "hashtable"),
        ] {
            let l = Limits::default();
            let refs: Vec<&str> = items.iter().map(String::as_str).collect();
            for count in [
                1,
                2,
                3,
                refs.len() / 2,
                refs.len() - 2,
                refs.len() - 1,
                refs.len(),
                500,
            ] {
                let mut s = build(&refs, &l);
                assert_eq!(s.encoding(), encoding);
                let mut r = rng(count as u64 + 7);
                let popped = s.pop_random_many(count, &l, &mut r);
                assert_eq!(popped.len(), count.min(refs.len()));
                let mut all: Vec<Vec<u8>> = popped.clone();
                all.extend(members(&s));
                all.sort();
                let mut want: Vec<Vec<u8>> = items.iter().map(|s| s.clone().into_bytes()).collect();
                want.sort();
                assert_eq!(all, want, "{encoding} count {count}");
                assert_eq!(s.len(), refs.len() - popped.len());
                if encoding == "hashtable" && count < refs.len() && refs.len() - count < 20 {
                    // Few survivors: rebuilt as a listpack.
                    assert_eq!(s.encoding(), "listpack");
                }
            }
        }
    }

    /// Draws `draws` members from `f` and checks each of the `n` members
    /// comes up within a loose band around the expected count.
    fn roughly_uniform(n: usize, draws: usize, mut f: impl FnMut() -> Vec<u8>) {
        let mut hist = std::collections::HashMap::new();
        for _ in 0..draws {
            *hist.entry(f()).or_insert(0usize) += 1;
        }
        assert_eq!(hist.len(), n, "every member drawn");
        let expect = draws as f64 / n as f64;
        for (m, c) in hist {
            let c = c as f64;
            assert!(
                (c - expect).abs() < expect * 0.25,
                "{:?}: {c} draws, expected {expect}",
                String::from_utf8_lossy(&m)
            );
        }
    }

    #[test]
    fn random_member_is_uniform_in_every_encoding() {
        let l = Limits::default();
        for (n, prefix) in [(20, ""), (20, "m"), (5000, "m")] {
            let items: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
            let refs: Vec<&str> = items.iter().map(String::as_str).collect();
            let s = build(&refs, &l);
            let mut r = rng(42);
            roughly_uniform(n, n * 400, || {
                s.random_member(&mut r)
                    .map(Member::to_vec)
                    .unwrap_or_default()
            });
        }
        // A hashtable with segments of uneven sizes stays uniform.
        let items: Vec<String> = (0..3000).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let mut s = build(&refs, &l);
        for i in (0..3000).step_by(3) {
            s.remove(format!("k{i}").as_bytes());
        }
        let mut r = rng(9);
        roughly_uniform(2000, 2000 * 400, || {
            s.random_member(&mut r)
                .map(Member::to_vec)
                .unwrap_or_default()
        });
    }

    #[test]
    fn random_distinct_paths() {
        let l = Limits::default();
        for prefix in ["", "m"] {
            for n in [10, 200] {
                let items: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
                let refs: Vec<&str> = items.iter().map(String::as_str).collect();
                let s = build(&refs, &l);
                let mut r = rng(n as u64);
                for count in [1, 2, n / 3, n / 2, n - 1, n, n + 5] {
                    let got = s.random_distinct(count, &mut r);
                    assert_eq!(got.len(), count.min(n));
                    let uniq: HashSet<Vec<u8>> = got.iter().map(|m| m.to_vec()).collect();
                    assert_eq!(uniq.len(), got.len());
                    assert!(got.iter().all(|m| s.contains_member(*m)));
                }
                // Every member eventually shows up, evenly.
                let mut r = rng(3);
                let mut hist = std::collections::HashMap::new();
                for _ in 0..2000 {
                    for m in s.random_distinct(2, &mut r) {
                        *hist.entry(m.to_vec()).or_insert(0usize) += 1;
                    }
                }
                assert_eq!(hist.len(), n);
            }
        }
        let s = build(&["a", "b"], &l);
        let mut r = rng(1);
        let mut n = 0;
        s.random_members_with_repeats(100, &mut r, |m| {
            assert!(s.contains_member(m));
            n += 1;
        });
        assert_eq!(n, 100);
    }

    #[test]
    fn selection_sampling_is_sorted_and_complete() {
        let mut r = rng(5);
        for n in 0..30 {
            for k in 0..=n {
                let v = sample_sorted(n, k, &mut r);
                assert_eq!(v.len(), k);
                assert!(v.windows(2).all(|w| w[0] < w[1]));
                assert!(v.iter().all(|&i| i < n));
            }
        }
    }

    #[test]
    fn table_splits_and_merges() {
        let mut t = Table::new();
        for i in 0..20_000 {
            assert!(t.insert(format!("member:{i}").as_bytes()));
        }
        t.check();
        assert!(t.bits >= 7, "{} bits", t.bits);
        assert!(!t.insert(b"member:5"));
        for i in 0..19_990 {
            assert!(t.remove(format!("member:{i}").as_bytes()));
        }
        t.check();
        assert_eq!(t.bits, 0);
        assert_eq!(t.len, 10);
        assert!(t.contains(b"member:19995"));
        assert!(t.mem_bytes(0) > 0);
    }

    #[test]
    fn sampled_size_is_close_to_exact() {
        let mut t = Table::new();
        for i in 0..50_000 {
            // Members of one length (long enough to need their own allocation).
            t.insert(format!("a-long-member-name-{i:08}").as_bytes());
        }
        let (exact, sampled) = (t.mem_bytes(0), t.mem_bytes(5));
        assert!(
            sampled.abs_diff(exact) * 50 < exact,
            "sampled {sampled}, exact {exact}"
        );
    }

    /// Scans `s` fully while `mutate` runs between steps; returns the
    /// members each step saw.
    fn full_scan(
        s: &mut Set,
        count: usize,
        mut mutate: impl FnMut(&mut Set, usize),
    ) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = s.scan(cursor, count, |m| seen.push(m.to_vec()));
            if cursor == 0 {
                return seen;
            }
            mutate(s, step);
            step += 1;
            assert!(step < 1_000_000, "scan does not terminate");
        }
    }

    #[test]
    fn sscan_returns_everything_once_without_writes() {
        let l = Limits::default();
        for n in [0usize, 1, 50, 129, 1000, 10_000] {
            let items: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
            let mut s = Set::new_hashtable();
            for i in &items {
                s.insert(i.as_bytes(), &l);
            }
            for count in [1, 10, 100, 100_000] {
                let seen = full_scan(&mut s, count, |_, _| {});
                let uniq: HashSet<&Vec<u8>> = seen.iter().collect();
                assert_eq!(uniq.len(), n);
                assert_eq!(seen.len(), n, "no duplicates without writes");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every member present for a whole scan is returned, however the
        /// table grows or shrinks meanwhile; nothing returned was absent.
        #[test]
        fn sscan_guarantee_under_writes(
            start in 0usize..3000,
            count in 1usize..50,
            writes in proptest::collection::vec((any::<bool>(), 0usize..6000, 0usize..200), 1..200),
        ) {
            let l = Limits::default();
            let mut s = Set::new_hashtable();
            let mut present: HashSet<Vec<u8>> = HashSet::new();
            for i in 0..start {
                let m = format!("s{i}").into_bytes();
                s.insert(&m, &l);
                present.insert(m);
            }
            let mut ever = present.clone();
            let mut removed_some = HashSet::new();
            let mut cursor = 0;
            let mut seen = HashSet::new();
            let mut step = 0;
            loop {
                cursor = s.scan(cursor, count, |m| {
                    seen.insert(m.to_vec());
                });
                for m in &seen {
                    prop_assert!(ever.contains(m));
                }
                if cursor == 0 {
                    break;
                }
                if let Some(&(add, base, burst)) = writes.get(step % writes.len()) {
                    // Bursts of adds or removes trigger splits and merges.
                    for k in 0..burst {
                        let m = format!("s{}", (base + k * 7) % 6000).into_bytes();
                        if add {
                            s.insert(&m, &l);
                            ever.insert(m);
                        } else if s.remove(&m) {
                            removed_some.insert(m);
                        }
                    }
                }
                step += 1;
                prop_assert!(step < 100_000);
            }
            if let Repr::Hash(t) = &s.repr {
                t.check();
            }
            for m in &present {
                if !removed_some.contains(m) {
                    prop_assert!(seen.contains(m), "missed {:?}", String::from_utf8_lossy(m));
                }
            }
        }
    }

    /// The encoding Redis 7.2 would have, tracked independently: an order
    /// model for the listpack (insertion order) alongside the member set.
    #[derive(Debug)]
    enum Model {
        Int(BTreeSet<i64>),
        Pack(Vec<Vec<u8>>),
        Hash(HashSet<Vec<u8>>),
    }

    impl Model {
        fn contains(&self, m: &[u8]) -> bool {
            match self {
                Model::Int(s) => parse_int(m).is_some_and(|v| s.contains(&v)),
                Model::Pack(v) => v.iter().any(|e| e == m),
                Model::Hash(s) => s.contains(m),
            }
        }

        fn all(&self) -> Vec<Vec<u8>> {
            match self {
                Model::Int(s) => s.iter().map(|v| v.to_string().into_bytes()).collect(),
                Model::Pack(v) => v.clone(),
                Model::Hash(s) => s.iter().cloned().collect(),
            }
        }

        fn len(&self) -> usize {
            match self {
                Model::Int(s) => s.len(),
                Model::Pack(v) => v.len(),
                Model::Hash(s) => s.len(),
            }
        }

        fn insert(&mut self, m: &[u8], l: &Limits) -> bool {
            if self.contains(m) {
                return false;
            }
            let n = self.len();
            let next = match self {
                Model::Int(s) => match parse_int(m) {
                    Some(v) if n < l.set_max_intset_entries => {
                        s.insert(v);
                        return true;
                    }
                    Some(_) => None,
                    None => {
                        let longest = s.iter().map(|v| v.to_string().len()).max().unwrap_or(0);
                        if n < l.set_max_listpack_entries
                            && m.len() <= l.set_max_listpack_value
                            && longest <= l.set_max_listpack_value
                        {
                            let mut v = self.all();
                            v.push(m.to_vec());
                            Some(Model::Pack(v))
                        } else {
                            None
                        }
                    }
                },
                Model::Pack(v) => {
                    if n < l.set_max_listpack_entries && m.len() <= l.set_max_listpack_value {
                        v.push(m.to_vec());
                        return true;
                    }
                    None
                }
                Model::Hash(s) => {
                    s.insert(m.to_vec());
                    return true;
                }
            };
            *self = next.unwrap_or_else(|| {
                let mut s: HashSet<Vec<u8>> = self.all().into_iter().collect();
                s.insert(m.to_vec());
                Model::Hash(s)
            });
            true
        }

        fn remove(&mut self, m: &[u8]) -> bool {
            match self {
                Model::Int(s) => parse_int(m).is_some_and(|v| s.remove(&v)),
                Model::Pack(v) => match v.iter().position(|e| e == m) {
                    Some(i) => {
                        v.remove(i);
                        true
                    }
                    None => false,
                },
                Model::Hash(s) => s.remove(m),
            }
        }

        fn encoding(&self) -> &'static str {
            match self {
                Model::Int(_) => "intset",
                Model::Pack(_) => "listpack",
                Model::Hash(_) => "hashtable",
            }
        }
    }

    /// Members: small integers, non-canonical integers, short and long words.
    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => (-20i64..40).prop_map(|v| v.to_string().into_bytes()),
            1 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            1 => prop::sample::select(vec!["01", "-0", "+1", " 1", "1.0", "", "99999999999999999999"])
                .prop_map(|s| s.as_bytes().to_vec()),
            3 => "[a-e]{1,3}".prop_map(String::into_bytes),
            1 => "[a-z]{5,12}".prop_map(String::into_bytes),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>),
        AddMany(Vec<Vec<u8>>),
        Remove(Vec<u8>),
        Pop,
        PopMany(usize),
        Random(usize),
        Scan(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => member().prop_map(Op::Add),
            2 => proptest::collection::vec(member(), 1..12).prop_map(Op::AddMany),
            5 => member().prop_map(Op::Remove),
            1 => Just(Op::Pop),
            1 => (1usize..30).prop_map(Op::PopMany),
            1 => (1usize..30).prop_map(Op::Random),
            1 => (1usize..30).prop_map(Op::Scan),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random interleavings against a model with small limits, so every
        /// conversion happens: same members, same encoding, same order for
        /// the compact encodings.
        #[test]
        fn behaves_like_redis_model(
            limits in (0usize..6, 0usize..6, 0usize..5),
            ops in proptest::collection::vec(op(), 1..120),
            seed in any::<u64>(),
        ) {
            let l = lim(limits.0, limits.1, limits.2);
            let mut r = rng(seed);
            let mut s: Option<Set> = None;
            let mut m: Option<Model> = None;
            for op in ops {
                match op {
                    Op::Add(x) => {
                        let (set, model) = create(&mut s, &mut m, &x, 1, &l);
                        prop_assert_eq!(set.insert(&x, &l), model.insert(&x, &l));
                    }
                    Op::AddMany(xs) => {
                        let (set, model) = create(&mut s, &mut m, &xs[0], xs.len(), &l);
                        set.maybe_convert(xs.len(), &l);
                        let convert = match model {
                            Model::Int(_) => xs.len() > l.set_max_intset_entries,
                            Model::Pack(_) => xs.len() > l.set_max_listpack_entries,
                            Model::Hash(_) => false,
                        };
                        if convert {
                            *model = Model::Hash(model.all().into_iter().collect());
                        }
                        for x in &xs {
                            prop_assert_eq!(set.insert(x, &l), model.insert(x, &l));
                        }
                    }
                    Op::Remove(x) => {
                        if let (Some(set), Some(model)) = (s.as_mut(), m.as_mut()) {
                            prop_assert_eq!(set.remove(&x), model.remove(&x));
                        }
                    }
                    Op::Pop => {
                        if let (Some(set), Some(model)) = (s.as_mut(), m.as_mut()) {
                            let x = set.pop_random(&mut r);
                            prop_assert!(x.is_some());
                            let x = x.unwrap_or_default();
                            prop_assert!(model.remove(&x));
                        }
                    }
                    Op::PopMany(n) => {
                        if let (Some(set), Some(model)) = (s.as_mut(), m.as_mut()) {
                            let before: HashSet<Vec<u8>> = model.all().into_iter().collect();
                            let got = set.pop_random_many(n, &l, &mut r);
                            prop_assert_eq!(got.len(), n.min(before.len()));
                            let after: HashSet<Vec<u8>> = members(set).into_iter().collect();
                            let got_set: HashSet<Vec<u8>> = got.iter().cloned().collect();
                            prop_assert_eq!(got_set.len(), got.len());
                            prop_assert!(got_set.is_disjoint(&after));
                            let union: HashSet<Vec<u8>> = got_set.union(&after).cloned().collect();
                            prop_assert_eq!(union, before);
                            // The survivors may be re-encoded: restart the model from them.
                            *model = rebuild_model(set);
                        }
                    }
                    Op::Random(n) => {
                        if let Some(set) = s.as_ref() {
                            let got = set.random_distinct(n, &mut r);
                            prop_assert_eq!(got.len(), n.min(set.len()));
                            for x in &got {
                                prop_assert!(set.contains_member(*x));
                            }
                        }
                    }
                    Op::Scan(n) => {
                        if let Some(set) = s.as_ref() {
                            let mut seen = HashSet::new();
                            let mut cursor = 0;
                            loop {
                                cursor = set.scan(cursor, n, |x| { seen.insert(x.to_vec()); });
                                if cursor == 0 { break; }
                            }
                            prop_assert_eq!(seen, sorted(set).into_iter().collect::<HashSet<_>>());
                        }
                    }
                }
                if let (Some(set), Some(model)) = (s.as_ref(), m.as_ref()) {
                    prop_assert_eq!(set.encoding(), model.encoding());
                    prop_assert_eq!(set.len(), model.len());
                    if set.encoding() == "hashtable" {
                        let a: HashSet<Vec<u8>> = members(set).into_iter().collect();
                        let b: HashSet<Vec<u8>> = model.all().into_iter().collect();
                        prop_assert_eq!(a, b);
                    } else {
                        prop_assert_eq!(members(set), model.all());
                    }
                    if let Repr::Hash(t) = &set.repr {
                        t.check();
                    }
                    for x in model.all() {
                        prop_assert!(set.contains(&x));
                    }
                    if set.is_empty() {
                        s = None;
                        m = None;
                    }
                }
            }
        }
    }

    /// Creates the set (and model) as SADD would for `first` and a hint.
    fn create<'a>(
        s: &'a mut Option<Set>,
        m: &'a mut Option<Model>,
        first: &[u8],
        hint: usize,
        l: &Limits,
    ) -> (&'a mut Set, &'a mut Model) {
        let set = s.get_or_insert_with(|| Set::for_first(first, hint, l));
        let model = m.get_or_insert_with(|| {
            if parse_int(first).is_some() && hint <= l.set_max_intset_entries {
                Model::Int(BTreeSet::new())
            } else if hint <= l.set_max_listpack_entries {
                Model::Pack(Vec::new())
            } else {
                Model::Hash(HashSet::new())
            }
        });
        (set, model)
    }

    fn rebuild_model(s: &Set) -> Model {
        match s.encoding() {
            "intset" => Model::Int(s.iter().filter_map(Member::as_int).collect()),
            "listpack" => Model::Pack(members(s)),
            _ => Model::Hash(members(s).into_iter().collect()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The algebra agrees with HashSet's on random sets of every encoding.
        #[test]
        fn algebra_matches_hashset(
            limits in (0usize..8, 0usize..8, 1usize..6),
            sets in proptest::collection::vec(
                prop::option::weighted(0.85, proptest::collection::vec(member(), 1..20)), 1..5),
        ) {
            let l = lim(limits.0, limits.1, limits.2);
            let built: Vec<Option<Set>> = sets
                .iter()
                .map(|o| o.as_ref().map(|xs| {
                    let mut s = Set::for_first(&xs[0], xs.len(), &l);
                    for x in xs { s.insert(x, &l); }
                    s
                }))
                .collect();
            let models: Vec<HashSet<Vec<u8>>> = sets
                .iter()
                .map(|o| o.iter().flatten().cloned().collect())
                .collect();
            let refs: Vec<Option<&Set>> = built.iter().map(Option::as_ref).collect();

            let u = union(&refs, &l);
            let want_u: HashSet<Vec<u8>> = models.iter().flatten().cloned().collect();
            prop_assert_eq!(sorted(&u).into_iter().collect::<HashSet<_>>(), want_u);

            let d = difference(&refs, &l);
            let want_d: HashSet<Vec<u8>> = models[0]
                .iter()
                .filter(|x| !models[1..].iter().any(|m| m.contains(*x)))
                .cloned()
                .collect();
            prop_assert_eq!(sorted(&d).into_iter().collect::<HashSet<_>>(), want_d);

            if refs.iter().all(Option::is_some) {
                let all: Vec<&Set> = refs.iter().flatten().copied().collect();
                let want_i: HashSet<Vec<u8>> = models[0]
                    .iter()
                    .filter(|x| models[1..].iter().all(|m| m.contains(*x)))
                    .cloned()
                    .collect();
                let i: HashSet<Vec<u8>> = intersection(&all).into_iter().map(Member::to_vec).collect();
                prop_assert_eq!(&i, &want_i);
                let st = intersection_store(&all, &l);
                prop_assert_eq!(sorted(&st).into_iter().collect::<HashSet<_>>(), want_i.clone());
                prop_assert_eq!(intersection_card(&all, 0), want_i.len());
                prop_assert_eq!(intersection_card(&all, 2), want_i.len().min(2));
                if !want_i.is_empty() && want_i.iter().all(|x| parse_int(x).is_some())
                    && want_i.len() <= l.set_max_intset_entries {
                    prop_assert_eq!(st.encoding(), "intset");
                }
            }
        }
    }
}
