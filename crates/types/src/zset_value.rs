//! A Redis sorted set value with Redis's two encodings.
//!
//! * **listpack** while the set is small (at most `zset-max-listpack-entries`
//!   members, none longer than `zset-max-listpack-value` bytes): one
//!   [`Listpack`] holding `member, score` entry pairs sorted by `(score,
//!   member)`, exactly the layout Redis uses. Scores are stored as the 8
//!   little-endian bytes of the `f64` (Redis stores integral ones as integers
//!   and others as their `%.17g` text; both read back to the same double,
//!   except that `-0` comes back as `0`, which we reproduce). Every
//!   operation is a linear walk, which is what makes the encoding small.
//! * **skiplist** beyond that: the [`SortedSet`] skiplist with its member
//!   index, `O(log n)` for everything.
//!
//! Conversions follow Redis: a set converts from listpack to skiplist when an
//! insertion would exceed either limit, and never converts back on its own;
//! sets built in one go from computed results ([`ZSet::from_entries`], used
//! for ZUNIONSTORE, ZRANGESTORE, ...) pick the encoding by their final size.
//!
//! Ordering is Redis's: by score, then by member bytes (`memcmp`); `-0.0`
//! and `0.0` compare equal. Scores are never NaN: [`ZSet::add`] rejects a
//! NaN input or increment result, and the other inserting methods require a
//! non-NaN score (checked by a debug assertion).
//!
//! Range queries mirror the C code path of each encoding (`zzl*` for the
//! listpack, `zsl*` for the skiplist): that matters only for lexicographic
//! ranges over members with different scores, whose results Redis leaves
//! unspecified but which we reproduce the way each encoding computes them.

use std::cmp::Ordering;
use std::hash::Hasher;

use crate::listpack::Listpack;
use crate::zset::{LexBound, SortedSet};
use crate::Limits;

/// The stored form of a score inside the listpack. `-0` is stored as `0`:
/// Redis keeps integral scores of a listpack as integers, which loses the
/// sign of zero (the skiplist keeps it).
fn encode_score(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    score.to_le_bytes()
}

/// Reads a score written by [`encode_score`] (0 for a malformed entry,
/// which the encoding never produces).
fn decode_score(b: &[u8]) -> f64 {
    b.try_into().map(f64::from_le_bytes).unwrap_or(0.0)
}

/// `(a_score, a_member)` compared to `(b_score, b_member)` in sorted-set order.
fn cmp_entry(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a_member.cmp(b_member))
}

/// A score interval as ZRANGEBYSCORE / ZCOUNT take it (`(` marks an
/// exclusive end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// The closed interval `[min, max]`.
    pub fn inclusive(min: f64, max: f64) -> Self {
        ScoreRange {
            min,
            max,
            min_exclusive: false,
            max_exclusive: false,
        }
    }

    /// Is `v` at or above the lower end (Redis's `zslValueGteMin`)?
    pub fn gte_min(&self, v: f64) -> bool {
        if self.min_exclusive {
            v > self.min
        } else {
            v >= self.min
        }
    }

    /// Is `v` at or below the upper end (Redis's `zslValueLteMax`)?
    pub fn lte_max(&self, v: f64) -> bool {
        if self.max_exclusive {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// True for intervals that can hold nothing (`min > max`, or equal ends
    /// with one exclusive), Redis's early-out test.
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }

    pub fn contains(&self, v: f64) -> bool {
        self.gte_min(v) && self.lte_max(v)
    }
}

/// A member interval as ZRANGEBYLEX / ZLEXCOUNT take it: each end is `-`,
/// `+`, `[member` or `(member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

/// Redis's `sdscmplex`: compares two bounds, `-` below and `+` above every
/// string.
fn cmp_bounds(a: &LexBound<'_>, b: &LexBound<'_>) -> Ordering {
    use LexBound::*;
    match (a, b) {
        (NegInf, NegInf) | (PosInf, PosInf) => Ordering::Equal,
        (NegInf, _) | (_, PosInf) => Ordering::Less,
        (PosInf, _) | (_, NegInf) => Ordering::Greater,
        (Incl(x) | Excl(x), Incl(y) | Excl(y)) => x.cmp(y),
    }
}

/// Whether a bound is "exclusive" in Redis's terms (`-` and `+` are).
fn bound_exclusive(b: &LexBound<'_>) -> bool {
    !matches!(b, LexBound::Incl(_))
}

impl LexRange<'_> {
    /// Is `v` within the lower end (Redis's `zslLexValueGteMin`)?
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(m) => v >= m,
            LexBound::Excl(m) => v > m,
        }
    }

    /// Is `v` within the upper end (Redis's `zslLexValueLteMax`)?
    pub fn lte_max(&self, v: &[u8]) -> bool {
        match self.max {
            LexBound::PosInf => true,
            LexBound::NegInf => false,
            LexBound::Incl(m) => v <= m,
            LexBound::Excl(m) => v < m,
        }
    }

    /// True for intervals that can hold nothing, Redis's early-out test.
    pub fn is_empty(&self) -> bool {
        match cmp_bounds(&self.min, &self.max) {
            Ordering::Greater => true,
            Ordering::Equal => bound_exclusive(&self.min) || bound_exclusive(&self.max),
            Ordering::Less => false,
        }
    }
}

/// ZADD's conditions (`NX`, `XX`, `GT`, `LT`) and `INCR`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Update an existing member only if the new score is greater.
    pub gt: bool,
    /// Update an existing member only if the new score is less.
    pub lt: bool,
    /// Add the score to the current one (0 for a new member).
    pub incr: bool,
}

/// What [`ZSet::add`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddOutcome {
    /// A new member was inserted with this score.
    Added(f64),
    /// An existing member's score changed to this one.
    Updated(f64),
    /// An existing member was given a score equal to its current one (which
    /// is kept, e.g. `-0` stays `-0` when set to `0`); holds the new score.
    Unchanged(f64),
    /// Nothing was done because of NX, XX, GT or LT.
    Nop,
}

/// The score, or the result of an increment, is NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NanScore;

/// The two encodings.
#[derive(Debug, Clone)]
enum Repr {
    /// `member, score` pairs sorted by `(score, member)`.
    Pack(Listpack),
    Skip(Box<SortedSet>),
}

/// A Redis sorted set value; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        Self::new()
    }
}

/// Most elements a ZSCAN call returns beyond its COUNT hint is governed by
/// this: each call over a skiplist returns at least `len / SCAN_SLICES`
/// elements, so a full iteration takes at most about this many calls.
const SCAN_SLICES: usize = 64;

/// The position of a member in ZSCAN's iteration order: a fixed hash of its
/// bytes (the same in both encodings and for the life of the process).
pub fn scan_position(member: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(member);
    h.finish()
}

impl ZSet {
    /// An empty set (listpack encoding; nothing allocated).
    pub fn new() -> Self {
        ZSet {
            repr: Repr::Pack(Listpack::new()),
        }
    }

    /// A set holding `entries` (members must be unique; scores not NaN), in
    /// the encoding Redis picks for a computed result: listpack if there are
    /// at most `zset_max_listpack_entries` members and none is longer than
    /// `zset_max_listpack_value`, else skiplist.
    pub fn from_entries(mut entries: Vec<(Vec<u8>, f64)>, limits: &Limits) -> Self {
        entries.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        let small = entries.len() <= limits.zset_max_listpack_entries
            && entries
                .iter()
                .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
        if small {
            let mut lp = Listpack::new();
            for (m, s) in &entries {
                debug_assert!(!s.is_nan());
                lp.push_back(m);
                lp.push_back(&encode_score(*s));
            }
            ZSet {
                repr: Repr::Pack(lp),
            }
        } else {
            let mut z = SortedSet::new();
            for (m, s) in &entries {
                z.insert(m, *s);
            }
            ZSet {
                repr: Repr::Skip(Box::new(z)),
            }
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(lp) => lp.pair_len(),
            Repr::Skip(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING prints: `listpack` or `skiplist`.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    /// Approximate heap bytes used.
    pub fn mem_bytes(&self) -> usize {
        match &self.repr {
            Repr::Pack(lp) => lp.mem_bytes(),
            Repr::Skip(z) => z.mem_bytes(),
        }
    }

    /// Converts to the skiplist encoding (no-op if already there).
    pub fn convert_to_skiplist(&mut self) {
        if let Repr::Pack(lp) = &self.repr {
            let mut z = SortedSet::new();
            for (m, s) in lp.pairs() {
                z.insert(m, decode_score(s));
            }
            self.repr = Repr::Skip(Box::new(z));
        }
    }

    /// Listpack only: the pair index and score of `member`.
    fn pack_find(lp: &Listpack, member: &[u8]) -> Option<(usize, f64)> {
        lp.pairs()
            .enumerate()
            .find(|(_, (m, _))| *m == member)
            .map(|(i, (_, s))| (i, decode_score(s)))
    }

    /// Listpack only: inserts a (new) member at its sorted position.
    fn pack_insert(lp: &mut Listpack, member: &[u8], score: f64) {
        let pos = lp
            .pairs()
            .position(|(m, s)| cmp_entry(decode_score(s), m, score, member) == Ordering::Greater)
            .unwrap_or(lp.pair_len());
        lp.insert(2 * pos, member);
        lp.insert(2 * pos + 1, &encode_score(score));
    }

    /// The score of `member` (ZSCORE).
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(lp) => Self::pack_find(lp, member).map(|(_, s)| s),
            Repr::Skip(z) => z.score(member),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Inserts a member known to be absent, converting to the skiplist first
    /// if the listpack would exceed a limit (Redis's `zsetAdd` check).
    fn insert_new(&mut self, member: &[u8], score: f64, limits: &Limits) {
        debug_assert!(!score.is_nan());
        if let Repr::Pack(lp) = &self.repr {
            if lp.pair_len() + 1 > limits.zset_max_listpack_entries
                || member.len() > limits.zset_max_listpack_value
            {
                self.convert_to_skiplist();
            }
        }
        match &mut self.repr {
            Repr::Pack(lp) => Self::pack_insert(lp, member, score),
            Repr::Skip(z) => {
                z.insert(member, score);
            }
        }
    }

    /// Moves an existing member to a new score.
    fn rescore(&mut self, member: &[u8], score: f64) {
        match &mut self.repr {
            Repr::Pack(lp) => {
                if let Some((i, _)) = Self::pack_find(lp, member) {
                    lp.remove_range(2 * i, 2);
                    Self::pack_insert(lp, member, score);
                }
            }
            Repr::Skip(z) => {
                z.insert(member, score);
            }
        }
    }

    /// ZADD / ZINCRBY for one member, with Redis's `zsetAdd` semantics:
    /// NX skips existing members, XX skips new ones, GT/LT skip updates
    /// that do not raise/lower the score, INCR adds to the current score.
    /// A NaN `score`, or an increment whose result is NaN, is an error (and
    /// changes nothing).
    pub fn add(
        &mut self,
        member: &[u8],
        score: f64,
        flags: AddFlags,
        limits: &Limits,
    ) -> Result<AddOutcome, NanScore> {
        if score.is_nan() {
            return Err(NanScore);
        }
        match self.score(member) {
            Some(cur) => {
                if flags.nx {
                    return Ok(AddOutcome::Nop);
                }
                let mut new = score;
                if flags.incr {
                    new += cur;
                    if new.is_nan() {
                        return Err(NanScore);
                    }
                }
                if (flags.lt && new >= cur) || (flags.gt && new <= cur) {
                    return Ok(AddOutcome::Nop);
                }
                if new != cur {
                    self.rescore(member, new);
                    Ok(AddOutcome::Updated(new))
                } else {
                    Ok(AddOutcome::Unchanged(new))
                }
            }
            None if !flags.xx => {
                self.insert_new(member, score, limits);
                Ok(AddOutcome::Added(score))
            }
            None => Ok(AddOutcome::Nop),
        }
    }

    /// Sets `member`'s score, adding it if absent (converting as needed).
    /// Returns the previous score. `score` must not be NaN.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) -> Option<f64> {
        debug_assert!(!score.is_nan());
        match self.score(member) {
            Some(cur) => {
                if cur != score {
                    self.rescore(member, score);
                }
                Some(cur)
            }
            None => {
                self.insert_new(member, score, limits);
                None
            }
        }
    }

    /// Removes `member` (ZREM); true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(lp) => lp.pair_remove(member),
            Repr::Skip(z) => z.remove(member).is_some(),
        }
    }

    /// The 0-based rank of `member` and its score (ZRANK; with `rev`,
    /// ZREVRANK: counted from the highest).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<(usize, f64)> {
        let (r, s) = match &self.repr {
            Repr::Pack(lp) => Self::pack_find(lp, member)?,
            Repr::Skip(z) => (z.rank(member)?, z.score(member)?),
        };
        Some((if rev { self.len() - 1 - r } else { r }, s))
    }

    /// The member at ascending 0-based `rank` (O(n) for a listpack).
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Pack(lp) => {
                let m = lp.get(2 * rank)?;
                let s = lp.get(2 * rank + 1)?;
                Some((m, decode_score(s)))
            }
            Repr::Skip(z) => z.get_by_rank(rank),
        }
    }

    /// All members in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Members in ascending order from ascending rank `start` or, with
    /// `rev`, in descending order from the member `start` places below the
    /// highest (ZREVRANGE's indexing). Empty if `start >= len()`.
    pub fn iter_from(&self, start: usize, rev: bool) -> Iter<'_> {
        let inner = match (&self.repr, rev) {
            (Repr::Pack(lp), false) => {
                let mut p = lp.pairs();
                if start > 0 {
                    p.nth(start - 1);
                }
                IterInner::Pack(p)
            }
            (Repr::Pack(lp), true) => {
                let mut p = lp.pairs();
                if start > 0 {
                    p.nth_back(start - 1);
                }
                IterInner::PackRev(p)
            }
            (Repr::Skip(z), false) => IterInner::Skip(z.iter_from_rank(start)),
            (Repr::Skip(z), true) => IterInner::SkipRev(z.iter_rev_from_rank(start)),
        };
        Iter { inner }
    }

    /// The ascending ranks `(first, last)` of the members whose scores lie
    /// in `range`, or None if there are none.
    pub fn score_range(&self, range: &ScoreRange) -> Option<(usize, usize)> {
        if range.is_empty() || self.is_empty() {
            return None;
        }
        let (first, end) = match &self.repr {
            Repr::Pack(lp) => {
                let mut first = None;
                let mut end = 0;
                for (i, (_, s)) in lp.pairs().enumerate() {
                    let s = decode_score(s);
                    if first.is_none() && range.gte_min(s) {
                        first = Some(i);
                    }
                    if !range.lte_max(s) {
                        break;
                    }
                    end = i + 1;
                }
                (first?, end)
            }
            Repr::Skip(z) => (
                z.first_rank_in_score(range.min, range.min_exclusive),
                z.last_rank_in_score(range.max, range.max_exclusive)? + 1,
            ),
        };
        (first < end).then(|| (first, end - 1))
    }

    /// Number of members whose scores lie in `range` (ZCOUNT).
    pub fn count_in_score(&self, range: &ScoreRange) -> usize {
        self.score_range(range).map_or(0, |(a, b)| b - a + 1)
    }

    /// Redis's `zzlIsInLexRange` / `zslIsInLexRange`: false when the range
    /// is empty or lies wholly outside the members.
    fn lex_may_overlap(&self, range: &LexRange<'_>) -> bool {
        let n = self.len();
        if range.is_empty() || n == 0 {
            return false;
        }
        match (self.get(n - 1), self.get(0)) {
            (Some((last, _)), Some((first, _))) => range.gte_min(last) && range.lte_max(first),
            _ => false,
        }
    }

    /// Ascending rank of the first member within a lex range, computed as
    /// Redis's `zzlFirstInLexRange` / `zslFirstInLexRange` do.
    pub fn first_in_lex(&self, range: &LexRange<'_>) -> Option<usize> {
        if !self.lex_may_overlap(range) {
            return None;
        }
        let r = match &self.repr {
            Repr::Pack(lp) => lp.pairs().position(|(m, _)| range.gte_min(m))?,
            Repr::Skip(z) => z.first_rank_in_lex(&range.min),
        };
        let (m, _) = self.get(r)?;
        range.lte_max(m).then_some(r)
    }

    /// Ascending rank of the last member within a lex range, computed as
    /// Redis's `zzlLastInLexRange` / `zslLastInLexRange` do.
    pub fn last_in_lex(&self, range: &LexRange<'_>) -> Option<usize> {
        if !self.lex_may_overlap(range) {
            return None;
        }
        let r = match &self.repr {
            Repr::Pack(lp) => {
                let from_end = lp.pairs().rev().position(|(m, _)| range.lte_max(m))?;
                lp.pair_len() - 1 - from_end
            }
            Repr::Skip(z) => z.last_rank_in_lex(&range.max)?,
        };
        let (m, _) = self.get(r)?;
        range.gte_min(m).then_some(r)
    }

    /// Number of members within a lex range (ZLEXCOUNT), as Redis counts it
    /// for each encoding.
    pub fn count_in_lex(&self, range: &LexRange<'_>) -> usize {
        let Some(first) = self.first_in_lex(range) else {
            return 0;
        };
        match &self.repr {
            Repr::Pack(_) => self
                .iter_from(first, false)
                .take_while(|(m, _)| range.lte_max(m))
                .count(),
            Repr::Skip(_) => match self.last_in_lex(range) {
                Some(last) => (last + 1).saturating_sub(first),
                None => self.len() - first,
            },
        }
    }

    /// Removes the members with ascending ranks `start..=end` (`end` clamped
    /// to the last rank); returns how many were removed (ZREMRANGEBYRANK).
    pub fn remove_range_by_rank(&mut self, start: usize, end: usize) -> usize {
        let n = self.len();
        if start >= n || start > end {
            return 0;
        }
        let end = end.min(n - 1);
        match &mut self.repr {
            Repr::Pack(lp) => lp.remove_range(2 * start, 2 * (end - start + 1)) / 2,
            Repr::Skip(z) => z.remove_range_by_rank(start, end),
        }
    }

    /// Removes the members whose scores lie in `range` (ZREMRANGEBYSCORE).
    pub fn remove_range_by_score(&mut self, range: &ScoreRange) -> usize {
        match self.score_range(range) {
            Some((a, b)) => self.remove_range_by_rank(a, b),
            None => 0,
        }
    }

    /// Removes the members within a lex range (ZREMRANGEBYLEX): from the
    /// first member at or above the lower end, as long as members stay at or
    /// below the upper end (Redis's walk for each encoding).
    pub fn remove_range_by_lex(&mut self, range: &LexRange<'_>) -> usize {
        let first = match &self.repr {
            Repr::Pack(_) => self.first_in_lex(range),
            // zslDeleteRangeByLex descends without the overlap pre-check.
            Repr::Skip(z) => Some(z.first_rank_in_lex(&range.min)).filter(|&r| r < z.len()),
        };
        let Some(first) = first else {
            return 0;
        };
        let n = self
            .iter_from(first, false)
            .take_while(|(m, _)| range.lte_max(m))
            .count();
        if n == 0 {
            return 0;
        }
        self.remove_range_by_rank(first, first + n - 1)
    }

    /// Removes and returns the lowest (or, with `max`, the highest) member.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        match &mut self.repr {
            Repr::Pack(lp) => {
                if lp.pair_len() == 0 {
                    return None;
                }
                if max {
                    let s = lp.pop_back()?;
                    let m = lp.pop_back()?;
                    Some((m, decode_score(&s)))
                } else {
                    let m = lp.pop_front()?;
                    let s = lp.pop_front()?;
                    Some((m, decode_score(&s)))
                }
            }
            Repr::Skip(z) => {
                if max {
                    z.pop_max()
                } else {
                    z.pop_min()
                }
            }
        }
    }

    /// `count` members picked uniformly at random, with repetition
    /// (ZRANDMEMBER with a negative count), lazily. `rng(n)` must return a
    /// uniformly random index below `n`. Empty if the set is.
    pub fn random_with_repeats<'a, R: FnMut(usize) -> usize + 'a>(
        &'a self,
        count: usize,
        mut rng: R,
    ) -> impl Iterator<Item = (&'a [u8], f64)> + 'a {
        let n = self.len();
        // A listpack is indexed in O(n): materialize it once (it is small).
        let all: Vec<(&[u8], f64)> = match &self.repr {
            Repr::Pack(_) => self.iter().collect(),
            Repr::Skip(_) => Vec::new(),
        };
        let count = if n == 0 { 0 } else { count };
        (0..count).filter_map(move |_| {
            let i = rng(n);
            if all.is_empty() {
                self.get(i)
            } else {
                all.get(i).copied()
            }
        })
    }

    /// `count` distinct members picked uniformly at random (ZRANDMEMBER
    /// with a positive count); all of them, highest first, if `count >=
    /// len()` (Redis walks sorted sets backwards). Otherwise a listpack's
    /// picks keep the listpack's order (Redis's `lpRandomPairsUnique`) and a
    /// skiplist's come in random order. `rng(n)` must return a uniformly
    /// random index below `n`.
    pub fn random_distinct<R: FnMut(usize) -> usize>(
        &self,
        count: usize,
        mut rng: R,
    ) -> Vec<(&[u8], f64)> {
        let n = self.len();
        if count >= n {
            return self.iter_from(0, true).collect();
        }
        let mut picks: Vec<usize> = if count * 3 > n {
            // Many of them: a partial Fisher-Yates shuffle of all ranks.
            let mut all: Vec<usize> = (0..n).collect();
            for i in 0..count {
                let j = i + rng(n - i);
                all.swap(i, j);
            }
            all.truncate(count);
            all
        } else {
            // Few of them: draw until `count` distinct ranks came up.
            let mut seen = hashbrown::HashSet::with_capacity(count);
            let mut picks = Vec::with_capacity(count);
            while picks.len() < count {
                let i = rng(n);
                if seen.insert(i) {
                    picks.push(i);
                }
            }
            picks
        };
        match &self.repr {
            Repr::Pack(_) => {
                picks.sort_unstable();
                let all: Vec<(&[u8], f64)> = self.iter().collect();
                picks
                    .into_iter()
                    .filter_map(|i| all.get(i).copied())
                    .collect()
            }
            Repr::Skip(_) => picks.into_iter().filter_map(|i| self.get(i)).collect(),
        }
    }

    /// One ZSCAN step from `cursor` (0 starts an iteration); returns the
    /// next cursor (0 when the iteration is complete) and the members of
    /// this step with their scores.
    ///
    /// **Guarantee** (the one Redis gives): a full iteration, from cursor 0
    /// until 0 comes back, returns every member that was in the set for the
    /// whole iteration at least once, whatever writes happen in between
    /// (score changes included). Members added or removed meanwhile may or
    /// may not be returned.
    ///
    /// How: a listpack is returned whole in one step, with cursor 0, as
    /// Redis does (whatever the cursor). A skiplist is walked in the order of
    /// [`scan_position`], a fixed hash of the member bytes that no write can
    /// change: a step returns the members whose position is at least
    /// `cursor`, up to a position chosen so that at least `count` of them
    /// (the COUNT hint) and at least `len / 64` are returned (members sharing
    /// a position are never split), and the next cursor is one past that
    /// position. A step costs O(n), so the full iteration costs about
    /// O(64 n) whatever COUNT is. Members come out in score order within a
    /// step.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        let z = match &self.repr {
            Repr::Pack(_) => return (0, self.iter().collect()),
            Repr::Skip(z) => z,
        };
        let mut cand: Vec<(u64, &[u8], f64)> = z
            .iter()
            .map(|(m, s)| (scan_position(m), m, s))
            .filter(|(p, _, _)| *p >= cursor)
            .collect();
        let batch = count.max(z.len().div_ceil(SCAN_SLICES)).max(1);
        if cand.len() <= batch {
            return (0, cand.into_iter().map(|(_, m, s)| (m, s)).collect());
        }
        let mut positions: Vec<u64> = cand.iter().map(|c| c.0).collect();
        let (_, &mut limit, _) = positions.select_nth_unstable(batch - 1);
        let before = cand.len();
        cand.retain(|c| c.0 <= limit);
        let next = if cand.len() == before {
            0
        } else {
            // Some member lies beyond `limit`, so `limit < u64::MAX`.
            limit.wrapping_add(1)
        };
        (next, cand.into_iter().map(|(_, m, s)| (m, s)).collect())
    }
}

/// The iterator state of each encoding and direction.
#[derive(Clone)]
enum IterInner<'a> {
    Pack(crate::listpack::Pairs<'a>),
    PackRev(crate::listpack::Pairs<'a>),
    Skip(crate::zset::Iter<'a>),
    SkipRev(crate::zset::RevIter<'a>),
}

/// Iterator over `(member, score)`; see [`ZSet::iter`] and [`ZSet::iter_from`].
#[derive(Clone)]
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Pack(p) => p.next().map(|(m, s)| (m, decode_score(s))),
            IterInner::PackRev(p) => p.next_back().map(|(m, s)| (m, decode_score(s))),
            IterInner::Skip(i) => i.next(),
            IterInner::SkipRev(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            IterInner::Pack(p) | IterInner::PackRev(p) => p.size_hint(),
            IterInner::Skip(i) => i.size_hint(),
            IterInner::SkipRev(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl std::iter::FusedIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(entries: usize, value: usize) -> Limits {
        Limits {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: value,
            ..Limits::default()
        }
    }

    /// Reference model: a plain vector kept sorted by (score, member).
    #[derive(Default, Clone, Debug)]
    struct Model {
        v: Vec<(Vec<u8>, f64)>,
    }

    impl Model {
        fn sort(&mut self) {
            self.v.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        }
        fn pos(&self, m: &[u8]) -> Option<usize> {
            self.v.iter().position(|(x, _)| x == m)
        }
        fn score(&self, m: &[u8]) -> Option<f64> {
            self.pos(m).map(|i| self.v[i].1)
        }
        fn add(&mut self, m: &[u8], score: f64, f: AddFlags) -> Result<AddOutcome, NanScore> {
            if score.is_nan() {
                return Err(NanScore);
            }
            match self.pos(m) {
                Some(i) => {
                    let cur = self.v[i].1;
                    if f.nx {
                        return Ok(AddOutcome::Nop);
                    }
                    let new = if f.incr { cur + score } else { score };
                    if new.is_nan() {
                        return Err(NanScore);
                    }
                    if (f.lt && new >= cur) || (f.gt && new <= cur) {
                        return Ok(AddOutcome::Nop);
                    }
                    if new != cur {
                        self.v[i].1 = new;
                        self.sort();
                        Ok(AddOutcome::Updated(new))
                    } else {
                        Ok(AddOutcome::Unchanged(new))
                    }
                }
                None if !f.xx => {
                    self.v.push((m.to_vec(), score));
                    self.sort();
                    Ok(AddOutcome::Added(score))
                }
                None => Ok(AddOutcome::Nop),
            }
        }
    }

    fn contents(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    /// Equal contents; the sign of zero is not compared (a listpack drops
    /// it, see `zero_sign_by_encoding`).
    fn same(a: &[(Vec<u8>, f64)], b: &[(Vec<u8>, f64)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && (x.1 + 0.0).to_bits() == (y.1 + 0.0).to_bits())
    }

    /// An add result with the sign of zero dropped.
    fn unsigned(r: Result<AddOutcome, NanScore>) -> String {
        let r = r.map(|o| match o {
            AddOutcome::Added(s) => AddOutcome::Added(s + 0.0),
            AddOutcome::Updated(s) => AddOutcome::Updated(s + 0.0),
            AddOutcome::Unchanged(s) => AddOutcome::Unchanged(s + 0.0),
            AddOutcome::Nop => AddOutcome::Nop,
        });
        format!("{r:?}")
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>, f64, AddFlags),
        Remove(Vec<u8>),
        Pop(bool),
        RemRank(usize, usize),
        RemScore(ScoreRange),
        RemLex(u8, u8, bool, bool),
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => prop::collection::vec(b'a'..=b'f', 0..3),
            1 => prop::collection::vec(any::<u8>(), 4..12),
        ]
    }

    fn score() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => (-4i32..4).prop_map(f64::from),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(-0.0),
            1 => any::<f64>().prop_filter("not nan", |f| !f.is_nan()),
        ]
    }

    fn flags() -> impl Strategy<Value = AddFlags> {
        (any::<u8>()).prop_map(|b| AddFlags {
            nx: b & 1 != 0 && b & 2 == 0,
            xx: b & 2 != 0,
            gt: b & 4 != 0 && b & 1 == 0,
            lt: b & 8 != 0 && b & 4 == 0 && b & 1 == 0,
            incr: b & 16 != 0,
        })
    }

    fn score_range() -> impl Strategy<Value = ScoreRange> {
        (score(), score(), any::<bool>(), any::<bool>()).prop_map(|(a, b, x, y)| ScoreRange {
            min: a,
            max: b,
            min_exclusive: x,
            max_exclusive: y,
        })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (member(), score(), flags()).prop_map(|(m, s, f)| Op::Add(m, s, f)),
            2 => member().prop_map(Op::Remove),
            1 => any::<bool>().prop_map(Op::Pop),
            1 => (0usize..8, 0usize..8).prop_map(|(a, b)| Op::RemRank(a, b)),
            1 => score_range().prop_map(Op::RemScore),
            1 => (b'a'..=b'g', b'a'..=b'g', any::<bool>(), any::<bool>())
                .prop_map(|(a, b, x, y)| Op::RemLex(a, b, x, y)),
        ]
    }

    fn lex_bound(c: u8, excl: bool, buf: &[u8; 1]) -> LexBound<'_> {
        match c {
            b'a' => LexBound::NegInf,
            b'g' => LexBound::PosInf,
            _ if excl => LexBound::Excl(buf),
            _ => LexBound::Incl(buf),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every operation agrees with the model, whatever the encoding
        /// thresholds (so conversions happen mid-sequence), and the encoding
        /// is listpack exactly while Redis would keep it.
        #[test]
        fn matches_model(ops in prop::collection::vec(op(), 0..80),
                         entries in 0usize..10, value in 0usize..6) {
            let lim = limits(entries, value);
            let mut z = ZSet::new();
            let mut model = Model::default();
            let mut converted = false;
            for op in ops {
                match op {
                    Op::Add(m, s, f) => {
                        let new_member = model.pos(&m).is_none();
                        let a = z.add(&m, s, f, &lim);
                        let b = model.add(&m, s, f);
                        prop_assert_eq!(unsigned(a), unsigned(b));
                        if new_member && matches!(a, Ok(AddOutcome::Added(_)))
                            && (model.v.len() > entries || m.len() > value) {
                            converted = true;
                        }
                    }
                    Op::Remove(m) => {
                        let had = model.pos(&m);
                        if let Some(i) = had { model.v.remove(i); }
                        prop_assert_eq!(z.remove(&m), had.is_some());
                    }
                    Op::Pop(max) => {
                        let want = if model.v.is_empty() { None }
                            else if max { model.v.pop() } else { Some(model.v.remove(0)) };
                        let got = z.pop(max).map(|(m, s)| (m, s + 0.0));
                        let want = want.map(|(m, s)| (m, s + 0.0));
                        prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
                    }
                    Op::RemRank(a, b) => {
                        let n = model.v.len();
                        let want = if a < n && a <= b {
                            let e = b.min(n - 1);
                            model.v.drain(a..=e).count()
                        } else { 0 };
                        prop_assert_eq!(z.remove_range_by_rank(a, b), want);
                    }
                    Op::RemScore(r) => {
                        let before = model.v.len();
                        model.v.retain(|(_, s)| !r.contains(*s));
                        prop_assert_eq!(z.remove_range_by_score(&r), before - model.v.len());
                    }
                    Op::RemLex(a, b, x, y) => {
                        // Lex ranges are only specified for equal scores:
                        // compare against the model only then.
                        let (ba, bb) = ([a], [b]);
                        let r = LexRange { min: lex_bound(a, x, &ba), max: lex_bound(b, y, &bb) };
                        let uniform = model.v.windows(2).all(|w| w[0].1 == w[1].1);
                        if uniform {
                            let before = model.v.len();
                            let counted = z.count_in_lex(&r);
                            model.v.retain(|(m, _)| !(r.gte_min(m) && r.lte_max(m)));
                            prop_assert_eq!(counted + model.v.len(), before);
                            prop_assert_eq!(z.remove_range_by_lex(&r), before - model.v.len());
                        }
                    }
                }
                prop_assert!(same(&contents(&z), &model.v), "{:?} vs {:?}", z, model);
                prop_assert_eq!(z.len(), model.v.len());
                if converted {
                    prop_assert_eq!(z.encoding(), "skiplist");
                } else {
                    prop_assert_eq!(z.encoding(), "listpack");
                }
            }
        }

        /// Queries agree with the model in both encodings.
        #[test]
        fn queries(entries in prop::collection::vec((member(), score()), 0..40),
                   r in score_range(),
                   probe in member(), start in 0usize..45) {
            let mut model = Model::default();
            for (m, s) in &entries {
                if model.pos(m).is_none() { model.v.push((m.clone(), *s)); }
            }
            model.sort();
            for big in [false, true] {
                let lim = if big { limits(0, 0) } else { limits(1000, 1000) };
                let z = ZSet::from_entries(model.v.clone(), &lim);
                prop_assert_eq!(z.encoding(), if big && !model.v.is_empty() { "skiplist" } else { "listpack" });
                prop_assert!(same(&contents(&z), &model.v));
                // Score and rank.
                let rank = model.pos(&probe);
                let unsigned = |s: f64| (s + 0.0).to_bits();
                prop_assert_eq!(z.score(&probe).map(unsigned), model.score(&probe).map(unsigned));
                prop_assert_eq!(z.rank(&probe, false).map(|x| x.0), rank);
                prop_assert_eq!(z.rank(&probe, true).map(|x| x.0), rank.map(|r| model.v.len() - 1 - r));
                // Rank iteration both ways.
                let fwd: Vec<_> = z.iter_from(start, false).map(|(m, _)| m.to_vec()).collect();
                let want: Vec<_> = model.v.iter().skip(start).map(|(m, _)| m.clone()).collect();
                prop_assert_eq!(fwd, want);
                let rev: Vec<_> = z.iter_from(start, true).map(|(m, _)| m.to_vec()).collect();
                let want: Vec<_> = model.v.iter().rev().skip(start).map(|(m, _)| m.clone()).collect();
                prop_assert_eq!(rev, want);
                prop_assert_eq!(z.get(start).map(|(m, _)| m.to_vec()), model.v.get(start).map(|e| e.0.clone()));
                // Score ranges.
                let inr: Vec<usize> = (0..model.v.len()).filter(|&i| r.contains(model.v[i].1)).collect();
                let want = if r.is_empty() { None } else { inr.first().map(|&a| (a, *inr.last().unwrap_or(&a))) };
                prop_assert_eq!(z.score_range(&r), want);
                prop_assert_eq!(z.count_in_score(&r), if r.is_empty() { 0 } else { inr.len() });
            }
        }

        /// Lex queries on equal scores agree with the model in both encodings.
        #[test]
        fn lex_queries(members in prop::collection::btree_set(prop::collection::vec(b'a'..=b'f', 0..3), 0..30),
                       a in b'a'..=b'g', b in b'a'..=b'g', x in any::<bool>(), y in any::<bool>()) {
            let v: Vec<(Vec<u8>, f64)> = members.into_iter().map(|m| (m, 1.0)).collect();
            let (ba, bb) = ([a], [b]);
            let r = LexRange { min: lex_bound(a, x, &ba), max: lex_bound(b, y, &bb) };
            let inr: Vec<usize> = (0..v.len()).filter(|&i| r.gte_min(&v[i].0) && r.lte_max(&v[i].0)).collect();
            for big in [false, true] {
                let lim = if big { limits(0, 0) } else { limits(1000, 1000) };
                let z = ZSet::from_entries(v.clone(), &lim);
                prop_assert_eq!(z.first_in_lex(&r), inr.first().copied());
                prop_assert_eq!(z.last_in_lex(&r), inr.last().copied());
                prop_assert_eq!(z.count_in_lex(&r), inr.len());
            }
        }

        /// A full ZSCAN returns every member that stays in the set, exactly
        /// once, while other members come and go and scores change.
        #[test]
        fn scan_guarantee(n in 0usize..600, count in 1usize..20, seed in any::<u64>()) {
            let lim = limits(128, 64);
            let mut z = ZSet::new();
            for i in 0..n {
                z.insert(format!("m{i}").as_bytes(), i as f64, &lim);
            }
            let mut seen = std::collections::HashMap::<Vec<u8>, usize>::new();
            let mut cursor = 0;
            let mut step = 0u64;
            let mut rng = seed | 1;
            loop {
                let (next, batch) = z.scan(cursor, count);
                for (m, _) in batch {
                    *seen.entry(m.to_vec()).or_default() += 1;
                }
                // Churn: new members, removed temporaries, moved scores.
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                z.insert(format!("t{step}").as_bytes(), (rng % 1000) as f64, &lim);
                if step > 0 { z.remove(format!("t{}", step - 1).as_bytes()); }
                if n > 0 {
                    let k = (rng % n as u64) as usize;
                    z.insert(format!("m{k}").as_bytes(), -((rng >> 20) as f64), &lim);
                }
                step += 1;
                if next == 0 { break; }
                cursor = next;
                prop_assert!(step < 10_000);
            }
            for i in 0..n {
                let c = seen.get(format!("m{i}").as_bytes()).copied().unwrap_or(0);
                if z.encoding() == "skiplist" {
                    prop_assert_eq!(c, 1, "m{}", i);
                } else {
                    prop_assert!(c >= 1);
                }
            }
        }
    }

    #[test]
    fn conversions_like_redis() {
        let lim = limits(3, 4);
        let mut z = ZSet::new();
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.insert(m.as_bytes(), i as f64, &lim);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"d", 9.0, &lim);
        assert_eq!(z.encoding(), "skiplist");
        // Never converts back on its own.
        z.remove(b"d");
        z.remove(b"c");
        assert_eq!(z.encoding(), "skiplist");
        // A long member converts.
        let mut y = ZSet::new();
        y.insert(b"abcd", 1.0, &lim);
        assert_eq!(y.encoding(), "listpack");
        y.insert(b"abcde", 1.0, &lim);
        assert_eq!(y.encoding(), "skiplist");
        // XX on a missing member does not convert.
        let mut x = ZSet::new();
        let xx = AddFlags {
            xx: true,
            ..AddFlags::default()
        };
        assert_eq!(x.add(b"toolong", 1.0, xx, &lim), Ok(AddOutcome::Nop));
        assert_eq!(x.encoding(), "listpack");
        // Computed results pick by size.
        let e = |n: usize| (0..n).map(|i| (vec![b'a' + i as u8], 1.0)).collect();
        assert_eq!(ZSet::from_entries(e(3), &lim).encoding(), "listpack");
        assert_eq!(ZSet::from_entries(e(4), &lim).encoding(), "skiplist");
    }

    #[test]
    fn zero_sign_by_encoding() {
        // Like Redis: a skiplist keeps -0, a listpack stores it as 0.
        let mut z = ZSet::new();
        z.insert(b"m", -0.0, &Limits::default());
        assert!(z
            .score(b"m")
            .is_some_and(|s| s == 0.0 && s.is_sign_positive()));
        let mut z = ZSet::new();
        z.insert(b"m", -0.0, &limits(0, 0));
        assert!(z.score(b"m").is_some_and(|s| s.is_sign_negative()));
        // Setting 0 over -0 changes nothing.
        let r = z.add(b"m", 0.0, AddFlags::default(), &limits(0, 0));
        assert_eq!(r, Ok(AddOutcome::Unchanged(0.0)));
        assert!(z.score(b"m").is_some_and(|s| s.is_sign_negative()));
        // Converting to a listpack result drops it.
        let z = ZSet::from_entries(vec![(b"m".to_vec(), -0.0)], &Limits::default());
        assert!(z.score(b"m").is_some_and(|s| s.is_sign_positive()));
    }

    #[test]
    fn nan_is_rejected() {
        let lim = Limits::default();
        let mut z = ZSet::new();
        z.insert(b"i", f64::INFINITY, &lim);
        let incr = AddFlags {
            incr: true,
            ..AddFlags::default()
        };
        assert_eq!(z.add(b"i", f64::NEG_INFINITY, incr, &lim), Err(NanScore));
        assert_eq!(z.add(b"x", f64::NAN, incr, &lim), Err(NanScore));
        assert_eq!(z.score(b"i"), Some(f64::INFINITY));
    }

    #[test]
    fn lex_range_emptiness() {
        use LexBound::*;
        let r = |min, max| LexRange { min, max }.is_empty();
        assert!(r(NegInf, NegInf));
        assert!(r(PosInf, PosInf));
        assert!(!r(NegInf, PosInf));
        assert!(r(PosInf, NegInf));
        assert!(!r(Incl(b"a"), Incl(b"a")));
        assert!(r(Incl(b"a"), Excl(b"a")));
        assert!(r(Incl(b"b"), Incl(b"a")));
    }

    #[test]
    fn random_members() {
        // A tiny deterministic generator is enough to check the bookkeeping.
        let mut x = 7u64;
        let mut rng = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for lim in [Limits::default(), limits(0, 0)] {
            let entries: Vec<(Vec<u8>, f64)> = (0..20)
                .map(|i| (format!("m{i:02}").into_bytes(), i as f64))
                .collect();
            let z = ZSet::from_entries(entries, &lim);
            let all: Vec<_> = z.random_distinct(50, &mut rng);
            let want: Vec<_> = z.iter_from(0, true).collect();
            assert_eq!(all, want, "all of them, highest first");
            for count in [1, 3, 7, 15, 19] {
                let picks = z.random_distinct(count, &mut rng);
                assert_eq!(picks.len(), count);
                let mut names: Vec<&[u8]> = picks.iter().map(|p| p.0).collect();
                if z.encoding() == "listpack" {
                    assert!(names.windows(2).all(|w| w[0] < w[1]), "listpack order");
                }
                names.sort();
                names.dedup();
                assert_eq!(names.len(), count, "distinct");
                assert!(picks.iter().all(|(m, s)| z.score(m) == Some(*s)));
            }
            let rep: Vec<_> = z.random_with_repeats(100, &mut rng).collect();
            assert_eq!(rep.len(), 100);
            assert!(rep.iter().all(|(m, s)| z.score(m) == Some(*s)));
        }
        assert_eq!(ZSet::new().random_with_repeats(5, |_| 0).count(), 0);
    }

    #[test]
    fn scan_listpack_is_one_step() {
        let lim = Limits::default();
        let z = ZSet::from_entries(vec![(b"a".to_vec(), 2.0), (b"b".to_vec(), 1.0)], &lim);
        let (c, items) = z.scan(12345, 1);
        assert_eq!(c, 0);
        assert_eq!(items, vec![(&b"b"[..], 1.0), (&b"a"[..], 2.0)]);
    }
}
