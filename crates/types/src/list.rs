//! A Redis list, with Redis 7.2's two encodings.
//!
//! - **listpack**: while small, the whole list is one [`Listpack`].
//! - **quicklist**: beyond `list-max-listpack-size`, a deque of listpack
//!   nodes, each bounded by that limit (a positive value caps the entries
//!   per node, -1 ... -5 cap the node's bytes at 4, 8, 16, 32 or 64 KB). An
//!   element too big for any node lives alone in a "plain" node.
//!
//! `OBJECT ENCODING` exposes which one a list uses, so the conversions
//! follow Redis exactly (`listTypeTryConversion*` in Redis's `t_list.c`):
//! a listpack becomes a quicklist just *before* an addition would push it
//! past the limit ([`List::convert_for_growth`]), and a quicklist goes back
//! to a listpack once it is a single node at most half the limit
//! ([`List::convert_after_shrink`]; half, so that a list hovering at the
//! limit does not convert back and forth). The quicklist's node splitting
//! and merging mirrors Redis's `quicklist.c` too, since it decides when a
//! list is down to one node.
//!
//! Redis measures nodes in bytes of *its* listpack format, where integers
//! are stored in binary and every listpack has 7 bytes of header and
//! terminator. Our [`Listpack`] stores every entry as a byte string, so each
//! node also tracks `sz`, what Redis's `lpBytes` would report for it;
//! limits are checked against that, which makes conversions happen at the
//! same element as in Redis.
//!
//! Mutating methods never convert by themselves: the command layer calls
//! the two conversion methods at the points where Redis does, because the
//! order (e.g. LMOVE onto its own source: pop, push, then shrink) is
//! observable.

use std::collections::vec_deque;
use std::collections::VecDeque;
use std::iter::FusedIterator;
use std::ops::Range;

use crate::listpack::{self, Listpack};

/// Which end of a list an operation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (left, index 0).
    Head,
    /// The tail (right, index -1).
    Tail,
}

// ----- Redis's size accounting and node limits -----

/// Redis's `SIZE_SAFETY_LIMIT`: with a count limit, no node may exceed 8 KB.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Redis's per-entry overestimate when deciding whether an entry still fits.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Byte limits for `list-max-listpack-size` -1 ... -5.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Header (6) and terminator (1) bytes of a Redis listpack.
const LP_OVERHEAD: usize = 7;
/// A quicklist keeps its fill in 16 signed bits (Redis's `quicklistSetFill`).
const FILL_MAX: i64 = (1 << 15) - 1;
const FILL_MIN: i64 = -5;

/// The byte limit of a negative fill (below -5 counts as -5).
fn neg_fill_limit(fill: i64) -> usize {
    let level = fill.unsigned_abs().saturating_sub(1).min(4) as usize;
    OPTIMIZATION_LEVEL[level]
}

/// `(byte limit, count limit)` of a node for `fill`; one of them is unbounded
/// (Redis's `quicklistNodeLimit`).
fn node_limit(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        (usize::MAX, fill.max(1) as usize)
    } else {
        (neg_fill_limit(fill), usize::MAX)
    }
}

/// Would a node of `sz` bytes and `count` entries be over the limit?
/// (Redis's `quicklistNodeExceedsLimit`.)
fn exceeds_limit(fill: i64, sz: usize, count: usize) -> bool {
    let (sz_limit, count_limit) = node_limit(fill);
    if sz_limit != usize::MAX {
        sz > sz_limit
    } else {
        sz > SIZE_SAFETY_LIMIT || count > count_limit
    }
}

/// Is an element of `len` bytes stored in a plain node of its own?
fn is_large(len: usize, fill: i64) -> bool {
    if fill >= 0 {
        len > SIZE_SAFETY_LIMIT
    } else {
        len > neg_fill_limit(fill)
    }
}

/// The integer a Redis listpack would store `s` as (`lpStringToInt64`,
/// the same rules as `string2ll`: canonical decimal, at most 20 bytes).
fn lp_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
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

/// Bytes one element takes in a Redis listpack: encoding plus back-length.
fn lp_entry_bytes(v: &[u8]) -> usize {
    let enc = match lp_int(v) {
        Some(0..=127) => 1,
        Some(-4096..=4095) => 2,
        Some(-32768..=32767) => 3,
        Some(-8_388_608..=8_388_607) => 4,
        Some(-2_147_483_648..=2_147_483_647) => 5,
        Some(_) => 9,
        None if v.len() < 64 => 1 + v.len(),
        None if v.len() < 4096 => 2 + v.len(),
        None => 5 + v.len(),
    };
    let backlen = match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    enc + backlen
}

// ----- nodes -----

/// A listpack with its size as Redis accounts it; either the whole list
/// (listpack encoding) or one quicklist node.
#[derive(Debug, Clone)]
struct Node {
    lp: Listpack,
    /// Redis's `node->sz`: `lpBytes` of a packed node, the element's length
    /// for a plain one.
    sz: usize,
    /// A plain node holds exactly one large element and never grows.
    plain: bool,
}

impl Node {
    fn empty() -> Node {
        Node {
            lp: Listpack::new(),
            sz: LP_OVERHEAD,
            plain: false,
        }
    }

    /// A node holding just `v`: plain if `v` is large for `fill`.
    fn single(v: &[u8], fill: i64) -> Node {
        let plain = is_large(v.len(), fill);
        let mut lp = Listpack::new();
        lp.push_back(v);
        let sz = if plain {
            v.len()
        } else {
            LP_OVERHEAD + lp_entry_bytes(v)
        };
        Node { lp, sz, plain }
    }

    /// A packed node of the given entries.
    fn packed<'a>(entries: impl Iterator<Item = &'a [u8]>) -> Node {
        let mut n = Node::empty();
        for e in entries {
            n.push(End::Tail, e);
        }
        n
    }

    fn count(&self) -> usize {
        self.lp.len()
    }

    /// Can `len` more bytes go into this node? (`_quicklistNodeAllowInsert`.)
    fn allow_insert(&self, fill: i64, len: usize) -> bool {
        !self.plain
            && !is_large(len, fill)
            && !exceeds_limit(
                fill,
                self.sz + len + SIZE_ESTIMATE_OVERHEAD,
                self.count() + 1,
            )
    }

    /// May `a` and `b` become one node? (`_quicklistNodeAllowMerge`.)
    fn allow_merge(a: &Node, b: &Node, fill: i64) -> bool {
        !a.plain
            && !b.plain
            && !exceeds_limit(fill, a.sz + b.sz - LP_OVERHEAD, a.count() + b.count())
    }

    fn push(&mut self, end: End, v: &[u8]) {
        debug_assert!(!self.plain);
        self.sz += lp_entry_bytes(v);
        match end {
            End::Head => self.lp.push_front(v),
            End::Tail => self.lp.push_back(v),
        }
    }

    fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let v = match end {
            End::Head => self.lp.pop_front(),
            End::Tail => self.lp.pop_back(),
        }?;
        self.sz = if self.plain {
            0
        } else {
            self.sz - lp_entry_bytes(&v)
        };
        Some(v)
    }

    fn insert(&mut self, i: usize, v: &[u8]) {
        debug_assert!(!self.plain);
        if self.lp.insert(i, v) {
            self.sz += lp_entry_bytes(v);
        }
    }

    /// Replaces entry `i` of a packed node.
    fn set(&mut self, i: usize, v: &[u8]) {
        debug_assert!(!self.plain);
        if let Some(old) = self.lp.get(i) {
            let old = lp_entry_bytes(old);
            if self.lp.set(i, v) {
                self.sz = self.sz - old + lp_entry_bytes(v);
            }
        }
    }

    /// Size of the node once entry `i` (which exists) is replaced by `v`.
    fn sz_with_replaced(&self, i: usize, v: &[u8]) -> usize {
        let old = self.lp.get(i).map_or(0, lp_entry_bytes);
        self.sz - old + lp_entry_bytes(v)
    }

    /// Removes up to `n` entries from index `start`.
    fn remove_range(&mut self, start: usize, n: usize) {
        if !self.plain {
            let gone: usize = self.lp.iter().skip(start).take(n).map(lp_entry_bytes).sum();
            self.sz -= gone;
        }
        self.lp.remove_range(start, n);
        if self.plain && self.lp.is_empty() {
            self.sz = 0;
        }
    }

    /// Splits off the entries after index `at` (`after`) or before it
    /// (`!after`), returning them as a new packed node (`_quicklistSplitNode`).
    fn split(&mut self, at: usize, after: bool) -> Node {
        let n = self.count();
        let (keep, take) = if after {
            (0..at + 1, at + 1..n)
        } else {
            (at..n, 0..at)
        };
        let taken = Node::packed(self.lp.iter().skip(take.start).take(take.len()));
        let kept = Node::packed(self.lp.iter().skip(keep.start).take(keep.len()));
        *self = kept;
        taken
    }

    /// Removes entries equal to `v`, at most `limit`, scanning from the
    /// head or from the tail; returns how many went.
    fn remove_matches(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let n = self.count();
        let mut drop = vec![false; n];
        let mut removed = 0;
        let mut mark = |i: usize, e: &[u8]| {
            if removed < limit && e == v {
                drop[i] = true;
                removed += 1;
            }
        };
        if from_tail {
            for (i, e) in self.lp.iter().enumerate().rev() {
                mark(i, e);
            }
        } else {
            for (i, e) in self.lp.iter().enumerate() {
                mark(i, e);
            }
        }
        if removed > 0 {
            let plain = self.plain;
            let mut kept = Node::packed(
                self.lp
                    .iter()
                    .zip(&drop)
                    .filter(|(_, d)| !**d)
                    .map(|(e, _)| e),
            );
            // A plain node holds one element, so it is now empty.
            kept.plain = plain && !kept.lp.is_empty();
            *self = kept;
        }
        removed
    }
}

// ----- the quicklist -----

/// A deque of listpack nodes (Redis's quicklist without compression).
#[derive(Debug, Clone)]
struct Quicklist {
    nodes: VecDeque<Node>,
    /// Total entries.
    len: usize,
    /// `list-max-listpack-size` when the quicklist was created (Redis keeps
    /// it per quicklist), clamped like Redis's `quicklistSetFill`.
    fill: i64,
}

impl Quicklist {
    fn new(fill: i64) -> Quicklist {
        Quicklist {
            nodes: VecDeque::new(),
            len: 0,
            fill: fill.clamp(FILL_MIN, FILL_MAX),
        }
    }

    /// `(node index, offset in node)` of entry `i` (< len), walking from
    /// the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        debug_assert!(i < self.len);
        if i < self.len / 2 {
            let mut rest = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                if rest < n.count() {
                    return (ni, rest);
                }
                rest -= n.count();
            }
        } else {
            let mut rest = self.len - 1 - i;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                if rest < n.count() {
                    return (ni, n.count() - 1 - rest);
                }
                rest -= n.count();
            }
        }
        unreachable!("index {i} below the cached length {}", self.len)
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (ni, off) = self.locate(i);
        self.nodes[ni].lp.get(off)
    }

    /// `quicklistPushHead` / `quicklistPushTail`.
    fn push(&mut self, end: End, v: &[u8]) {
        let fill = self.fill;
        let edge = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        match edge {
            Some(n) if n.allow_insert(fill, v.len()) => n.push(end, v),
            _ => {
                let n = Node::single(v, fill);
                match end {
                    End::Head => self.nodes.push_front(n),
                    End::Tail => self.nodes.push_back(n),
                }
            }
        }
        self.len += 1;
    }

    fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let (v, empty) = {
            let n = match end {
                End::Head => self.nodes.front_mut(),
                End::Tail => self.nodes.back_mut(),
            }?;
            let v = n.pop(end)?;
            (v, n.lp.is_empty())
        };
        if empty {
            match end {
                End::Head => self.nodes.pop_front(),
                End::Tail => self.nodes.pop_back(),
            };
        }
        self.len -= 1;
        Some(v)
    }

    /// Merges node `i + 1` into node `i` (`_quicklistListpackMerge`).
    fn merge_pair(&mut self, i: usize) {
        if let Some(b) = self.nodes.remove(i + 1) {
            let a = &mut self.nodes[i];
            a.lp.extend(b.lp.iter());
            a.sz = a.sz + b.sz - LP_OVERHEAD;
        }
    }

    fn allow_merge(&self, a: usize, b: usize) -> bool {
        match (self.nodes.get(a), self.nodes.get(b)) {
            (Some(x), Some(y)) => Node::allow_merge(x, y, self.fill),
            _ => false,
        }
    }

    /// Tries to merge the nodes around `center` (`_quicklistMergeNodes`);
    /// returns the index of the node that now holds center's entries.
    fn merge_around(&mut self, center: usize) -> usize {
        let mut c = center;
        if c >= 2 && self.allow_merge(c - 2, c - 1) {
            self.merge_pair(c - 2);
            c -= 1;
        }
        if self.allow_merge(c + 1, c + 2) {
            self.merge_pair(c + 1);
        }
        let mut target = c;
        if c >= 1 && self.allow_merge(c - 1, c) {
            self.merge_pair(c - 1);
            target = c - 1;
        }
        if self.allow_merge(target, target + 1) {
            self.merge_pair(target);
        }
        target
    }

    /// Inserts `v` next to entry `i` (`_quicklistInsert`).
    fn insert(&mut self, i: usize, after: bool, v: &[u8]) {
        let fill = self.fill;
        let (ni, off) = self.locate(i);
        let node = &self.nodes[ni];
        let full = !node.allow_insert(fill, v.len());
        let at_tail = after && off == node.count() - 1;
        let at_head = !after && off == 0;
        let avail_next = at_tail
            && self
                .nodes
                .get(ni + 1)
                .is_some_and(|n| n.allow_insert(fill, v.len()));
        let avail_prev = at_head && ni > 0 && self.nodes[ni - 1].allow_insert(fill, v.len());
        let plain = node.plain;
        let beside = if after { ni + 1 } else { ni };
        self.len += 1;
        if is_large(v.len(), fill) {
            if plain || at_tail || at_head {
                self.nodes.insert(beside, Node::single(v, fill));
            } else {
                // [before][v][after]: split the node around the new element.
                let rest = self.nodes[ni].split(off, after);
                let big = Node::single(v, fill);
                if after {
                    self.nodes.insert(ni + 1, big);
                    self.nodes.insert(ni + 2, rest);
                } else {
                    self.nodes.insert(ni, big);
                    self.nodes.insert(ni, rest);
                }
            }
            return;
        }
        if !full {
            self.nodes[ni].insert(off + usize::from(after), v);
        } else if at_tail && avail_next {
            self.nodes[ni + 1].push(End::Head, v);
        } else if at_head && avail_prev {
            self.nodes[ni - 1].push(End::Tail, v);
        } else if at_tail || at_head {
            self.nodes.insert(beside, Node::single(v, fill));
        } else {
            let mut rest = self.nodes[ni].split(off, after);
            let center = if after {
                rest.push(End::Head, v);
                self.nodes.insert(ni + 1, rest);
                ni
            } else {
                rest.push(End::Tail, v);
                self.nodes.insert(ni, rest);
                ni + 1
            };
            self.merge_around(center);
        }
    }

    /// Replaces entry `i` (`quicklistReplaceEntry`).
    fn replace(&mut self, i: usize, v: &[u8]) {
        let fill = self.fill;
        let (ni, off) = self.locate(i);
        let node = &self.nodes[ni];
        if !node.plain
            && !is_large(v.len(), fill)
            && !exceeds_limit(fill, node.sz_with_replaced(off, v), node.count())
        {
            self.nodes[ni].set(off, v);
        } else if node.plain {
            if is_large(v.len(), fill) {
                self.nodes[ni] = Node::single(v, fill);
            } else {
                // Insert after the plain node's element, then drop the node
                // (the insert never moves nodes at or before `ni`).
                self.insert(i, true, v);
                self.nodes.remove(ni);
                self.len -= 1;
            }
        } else {
            // The node would overflow (or `v` is large): the new element
            // goes into a node of its own right after the old one, which is
            // split there first, then the old element (now the node's last)
            // is deleted and the new node merged with its neighbours.
            let count = node.count();
            let rest = (off != count - 1).then(|| self.nodes[ni].split(off, true));
            self.nodes.insert(ni + 1, Node::single(v, fill));
            if let Some(rest) = rest {
                self.nodes.insert(ni + 2, rest);
            }
            if self.nodes[ni].count() == 1 {
                self.nodes.remove(ni);
            } else {
                self.nodes[ni].pop(End::Tail);
                self.merge_around(ni + 1);
            }
        }
    }

    /// Deletes `count` entries from `start` (both in range)
    /// (`quicklistDelRange`): whole nodes go at once, nothing is merged.
    fn delete_range(&mut self, start: usize, count: usize) {
        if count == 0 {
            return;
        }
        let (mut ni, mut off) = self.locate(start);
        let mut extent = count;
        self.len -= count;
        while extent > 0 {
            let Some(node) = self.nodes.get_mut(ni) else {
                break;
            };
            let c = node.count();
            if off == 0 && (extent >= c || node.plain) {
                self.nodes.remove(ni);
                extent -= c.min(extent);
            } else {
                let del = (c - off).min(extent);
                node.remove_range(off, del);
                extent -= del;
                if node.lp.is_empty() {
                    self.nodes.remove(ni);
                } else {
                    ni += 1;
                }
            }
            off = 0;
        }
    }

    /// LREM on the nodes; empty nodes are deleted, nothing is merged.
    fn remove_matches(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        let mut emptied = Vec::new();
        for ni in order {
            if removed == limit {
                break;
            }
            let node = &mut self.nodes[ni];
            removed += node.remove_matches(v, limit - removed, from_tail);
            if node.lp.is_empty() {
                emptied.push(ni);
            }
        }
        // Remove from the highest index down so the others stay valid.
        emptied.sort_unstable();
        for ni in emptied.into_iter().rev() {
            self.nodes.remove(ni);
        }
        self.len -= removed;
        removed
    }
}

// ----- the list -----

#[derive(Debug, Clone)]
enum Repr {
    /// The "listpack" encoding (never a plain node).
    Listpack(Node),
    /// The "quicklist" encoding.
    Quicklist(Quicklist),
}

/// A Redis list; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct List {
    repr: Repr,
}

impl Default for List {
    fn default() -> Self {
        List::new()
    }
}

/// Resolves a Redis index (negative = from the tail) against `len`.
fn resolve(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 {
        // -1 is the last entry; -(index + 1) cannot overflow.
        let back = (-(index + 1)) as u64;
        (len as u64).checked_sub(back + 1)?
    } else {
        index as u64
    };
    (i < len as u64).then_some(i as usize)
}

/// The entries `start ..= stop` (Redis indexes, negative from the tail)
/// select in a list of `len`, as LRANGE and LTRIM read them; `None` when
/// the range is empty.
pub fn clamp_range(len: usize, start: i64, stop: i64) -> Option<Range<usize>> {
    let len_i = len as i64;
    let mut start = if start < 0 { len_i + start } else { start };
    let mut stop = if stop < 0 { len_i + stop } else { stop };
    start = start.max(0);
    if start > stop || start >= len_i {
        return None;
    }
    if stop >= len_i {
        stop = len_i - 1;
    }
    Some(start as usize..stop as usize + 1)
}

/// The empty listpack iterators start from.
static EMPTY_LISTPACK: Listpack = Listpack::new();

impl List {
    /// An empty list (listpack encoding).
    pub fn new() -> Self {
        List {
            repr: Repr::Listpack(Node::empty()),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(n) => n.count(),
            Repr::Quicklist(q) => q.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The list's nodes as its quicklist holds them, which is what an RDB
    /// file stores: whether a node is plain (one large element alone), and
    /// its elements. Node boundaries follow Redis's own rules, so the nodes
    /// are the ones Redis would have for the same commands.
    pub fn nodes(&self) -> impl Iterator<Item = (bool, crate::listpack::Iter<'_>)> {
        let (single, many) = match &self.repr {
            Repr::Listpack(n) => (Some(n), None),
            Repr::Quicklist(q) => (None, Some(q.nodes.iter())),
        };
        single
            .into_iter()
            .chain(many.into_iter().flatten())
            .filter(|n| !n.lp.is_empty())
            .map(|n| (n.plain, n.lp.iter()))
    }

    /// The name OBJECT ENCODING prints.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Quicklist(_) => "quicklist",
        }
    }

    /// Heap bytes held (for MEMORY USAGE-style estimates).
    pub fn mem_bytes(&self) -> usize {
        match &self.repr {
            Repr::Listpack(n) => n.lp.mem_bytes(),
            Repr::Quicklist(q) => {
                q.nodes.capacity() * std::mem::size_of::<Node>()
                    + q.nodes.iter().map(|n| n.lp.mem_bytes()).sum::<usize>()
            }
        }
    }

    // ----- encoding conversions -----

    /// Converts a listpack to a quicklist if adding `adding` would take it
    /// past `fill` (`list-max-listpack-size`), as Redis checks before a
    /// push, LINSERT, LSET or LMOVE (whether or not the addition then
    /// happens). A quicklist is left alone.
    pub fn convert_for_growth<'v, I>(&mut self, adding: I, fill: i64)
    where
        I: IntoIterator<Item = &'v [u8]>,
    {
        let Repr::Listpack(node) = &self.repr else {
            return;
        };
        let (bytes, count) = adding
            .into_iter()
            .fold((0, 0), |(b, c), v| (b + v.len(), c + 1));
        if exceeds_limit(fill, node.sz + bytes, node.count() + count) {
            self.make_quicklist(fill);
        }
    }

    /// Converts a quicklist back to a listpack if it is one packed node
    /// within half the limit, as Redis checks after removing elements.
    pub fn convert_after_shrink(&mut self, fill: i64) {
        self.try_to_listpack(fill, true);
    }

    /// Picks the encoding for a list built in one go (Redis's
    /// `LIST_CONV_AUTO`, e.g. after SORT ... STORE or a restore).
    pub fn convert_auto(&mut self, fill: i64) {
        match &self.repr {
            Repr::Listpack(_) => self.convert_for_growth([], fill),
            Repr::Quicklist(_) => self.try_to_listpack(fill, false),
        }
    }

    fn make_quicklist(&mut self, fill: i64) {
        let mut q = Quicklist::new(fill);
        if let Repr::Listpack(node) = &mut self.repr {
            let node = std::mem::replace(node, Node::empty());
            q.len = node.count();
            if !node.lp.is_empty() {
                q.nodes.push_back(node);
            }
        }
        self.repr = Repr::Quicklist(q);
    }

    fn try_to_listpack(&mut self, fill: i64, shrinking: bool) {
        let Repr::Quicklist(q) = &mut self.repr else {
            return;
        };
        if q.nodes.len() != 1 || q.nodes[0].plain {
            return;
        }
        let (mut sz_limit, mut count_limit) = node_limit(fill);
        if shrinking {
            sz_limit /= 2;
            count_limit /= 2;
        }
        let node = &q.nodes[0];
        if node.sz > sz_limit || q.len > count_limit {
            return;
        }
        if let Some(node) = q.nodes.pop_front() {
            self.repr = Repr::Listpack(node);
        }
    }

    // ----- element access -----

    /// The element at `index` (negative counts from the tail).
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        let i = resolve(self.len(), index)?;
        match &self.repr {
            Repr::Listpack(n) => n.lp.get(i),
            Repr::Quicklist(q) => q.get(i),
        }
    }

    /// Replaces the element at `index` (negative counts from the tail);
    /// false if out of range. No conversion: LSET calls
    /// [`convert_for_growth`](Self::convert_for_growth) before and
    /// [`convert_after_shrink`](Self::convert_after_shrink) after.
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        let Some(i) = resolve(self.len(), index) else {
            return false;
        };
        match &mut self.repr {
            Repr::Listpack(n) => n.set(i, v),
            Repr::Quicklist(q) => q.replace(i, v),
        }
        true
    }

    /// Index of the first element equal to `v`.
    pub fn find(&self, v: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == v)
    }

    /// Inserts `v` just before (or `after`) the element at index `pivot`,
    /// which must exist (LINSERT). No conversion.
    pub fn insert(&mut self, pivot: usize, after: bool, v: &[u8]) {
        if pivot >= self.len() {
            return;
        }
        match &mut self.repr {
            Repr::Listpack(n) => n.insert(pivot + usize::from(after), v),
            Repr::Quicklist(q) => q.insert(pivot, after, v),
        }
    }

    // ----- pushes and pops -----

    /// Adds `v` at one end. No conversion (see
    /// [`push_all`](Self::push_all) for LPUSH/RPUSH).
    pub fn push(&mut self, end: End, v: &[u8]) {
        match &mut self.repr {
            Repr::Listpack(n) => n.push(end, v),
            Repr::Quicklist(q) => q.push(end, v),
        }
    }

    /// LPUSH/RPUSH: converts for the whole batch first, then pushes each
    /// value in order (so LPUSH reverses them).
    pub fn push_all<'v, I>(&mut self, end: End, values: I, fill: i64)
    where
        I: IntoIterator<Item = &'v [u8]> + Clone,
    {
        self.convert_for_growth(values.clone(), fill);
        for v in values {
            self.push(end, v);
        }
    }

    /// Removes and returns the element at one end. No conversion.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        match &mut self.repr {
            Repr::Listpack(n) => n.pop(end),
            Repr::Quicklist(q) => q.pop(end),
        }
    }

    /// Removes up to `n` elements from one end, returned in pop order (from
    /// the tail: last element first), as LPOP/RPOP/LMPOP with a count.
    /// No conversion.
    pub fn pop_many(&mut self, end: End, n: usize) -> Vec<Vec<u8>> {
        let len = self.len();
        let n = n.min(len);
        let start = match end {
            End::Head => 0,
            End::Tail => len - n,
        };
        let mut out: Vec<Vec<u8>> = self.range(start..start + n).map(<[u8]>::to_vec).collect();
        if end == End::Tail {
            out.reverse();
        }
        self.delete_range(start, n);
        out
    }

    // ----- bulk removal -----

    /// Removes up to `count` elements from index `start` (clamped to the
    /// list). No conversion.
    pub fn delete_range(&mut self, start: usize, count: usize) {
        let len = self.len();
        if start >= len {
            return;
        }
        let count = count.min(len - start);
        match &mut self.repr {
            Repr::Listpack(n) => n.remove_range(start, count),
            Repr::Quicklist(q) => q.delete_range(start, count),
        }
    }

    /// LTRIM: keeps only the elements `start ..= stop` (Redis indexes).
    /// Returns how many were removed. No conversion.
    pub fn trim(&mut self, start: i64, stop: i64) -> usize {
        let len = self.len();
        let (ltrim, rtrim) = match clamp_range(len, start, stop) {
            Some(r) => (r.start, len - r.end),
            None => (len, 0),
        };
        self.delete_range(0, ltrim);
        self.delete_range(self.len() - rtrim, rtrim);
        ltrim + rtrim
    }

    /// LREM: removes elements equal to `v`; `count` > 0 removes the first
    /// `count` from the head, < 0 the first `|count|` from the tail, 0 all.
    /// Returns how many were removed. No conversion.
    pub fn remove(&mut self, v: &[u8], count: i64) -> usize {
        let limit = match count {
            0 => usize::MAX,
            c => usize::try_from(c.unsigned_abs()).unwrap_or(usize::MAX),
        };
        let from_tail = count < 0;
        match &mut self.repr {
            Repr::Listpack(n) => n.remove_matches(v, limit, from_tail),
            Repr::Quicklist(q) => q.remove_matches(v, limit, from_tail),
        }
    }

    // ----- searching and iteration -----

    /// LPOS: indexes of the elements equal to `v`. `rank` (non-zero) skips
    /// to the `|rank|`-th match, searching from the tail when negative;
    /// `count` caps the matches returned (0 = all); `maxlen` caps the
    /// elements compared (0 = all). Indexes are from the head either way.
    pub fn positions(&self, v: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let want = rank.unsigned_abs();
        let len = self.len();
        let scan = if maxlen == 0 { len } else { maxlen.min(len) };
        let mut out = Vec::new();
        let mut matches: u64 = 0;
        let mut visit = |index: usize, e: &[u8]| -> bool {
            if e == v {
                matches += 1;
                if matches >= want {
                    out.push(index);
                    if count != 0 && out.len() >= count {
                        return false;
                    }
                }
            }
            true
        };
        if rank < 0 {
            for (k, e) in self.iter().rev().take(scan).enumerate() {
                if !visit(len - 1 - k, e) {
                    break;
                }
            }
        } else {
            for (k, e) in self.iter().take(scan).enumerate() {
                if !visit(k, e) {
                    break;
                }
            }
        }
        out
    }

    /// All elements, head to tail (reversible with `.rev()`).
    pub fn iter(&self) -> Iter<'_> {
        self.range(0..self.len())
    }

    /// The elements with indexes in `r` (clamped to the list), in order
    /// (reversible with `.rev()`).
    pub fn range(&self, r: Range<usize>) -> Iter<'_> {
        let len = self.len();
        let end = r.end.min(len);
        let start = r.start.min(end);
        let mut it = Iter {
            front: EMPTY_LISTPACK.iter(),
            back: EMPTY_LISTPACK.iter(),
            mid: empty_nodes(),
            remaining: end - start,
        };
        if start == end {
            return it;
        }
        match &self.repr {
            Repr::Listpack(node) => {
                it.front = node.lp.iter();
                skip_front(&mut it.front, start);
                skip_back(&mut it.front, len - end);
            }
            Repr::Quicklist(q) => {
                let (sn, soff) = q.locate(start);
                let (en, eoff) = q.locate(end - 1);
                let tail_skip = q.nodes[en].count() - 1 - eoff;
                it.front = q.nodes[sn].lp.iter();
                skip_front(&mut it.front, soff);
                if sn == en {
                    skip_back(&mut it.front, tail_skip);
                } else {
                    it.back = q.nodes[en].lp.iter();
                    skip_back(&mut it.back, tail_skip);
                    it.mid = q.nodes.range(sn + 1..en);
                }
            }
        }
        it
    }

    /// Checks the internal bookkeeping (tests).
    #[cfg(test)]
    fn check_invariants(&self) {
        let check_node = |n: &Node| {
            if n.plain {
                assert_eq!(n.count(), 1, "a plain node holds one element");
                assert_eq!(n.sz, n.lp.get(0).map_or(0, <[u8]>::len));
            } else {
                let sz: usize = LP_OVERHEAD + n.lp.iter().map(lp_entry_bytes).sum::<usize>();
                assert_eq!(n.sz, sz, "node size accounting");
            }
        };
        match &self.repr {
            Repr::Listpack(n) => {
                assert!(!n.plain);
                check_node(n);
            }
            Repr::Quicklist(q) => {
                assert_eq!(q.len, q.nodes.iter().map(Node::count).sum::<usize>());
                for n in &q.nodes {
                    assert!(!n.lp.is_empty(), "no empty nodes");
                    check_node(n);
                }
            }
        }
        assert_eq!(self.iter().count(), self.len());
    }
}

/// An empty node range (a `VecDeque` iterator borrowing nothing).
fn empty_nodes<'a>() -> vec_deque::Iter<'a, Node> {
    static NO_NODES: VecDeque<Node> = VecDeque::new();
    NO_NODES.iter()
}

fn skip_front(it: &mut listpack::Iter<'_>, n: usize) {
    if n > 0 {
        it.nth(n - 1);
    }
}

fn skip_back(it: &mut listpack::Iter<'_>, n: usize) {
    if n > 0 {
        it.nth_back(n - 1);
    }
}

impl<'a> IntoIterator for &'a List {
    type Item = &'a [u8];
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a list's elements; see [`List::iter`] and [`List::range`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    /// Entries left in the node being read from the front.
    front: listpack::Iter<'a>,
    /// Entries left in the node being read from the back.
    back: listpack::Iter<'a>,
    /// Whole nodes between `front` and `back`.
    mid: vec_deque::Iter<'a, Node>,
    /// Elements left in the range.
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if let Some(e) = self.front.next() {
                self.remaining -= 1;
                return Some(e);
            }
            match self.mid.next() {
                Some(n) => self.front = n.lp.iter(),
                None => {
                    let e = self.back.next()?;
                    self.remaining -= 1;
                    return Some(e);
                }
            }
        }
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
        loop {
            if let Some(e) = self.back.next_back() {
                self.remaining -= 1;
                return Some(e);
            }
            match self.mid.next_back() {
                Some(n) => self.back = n.lp.iter(),
                None => {
                    let e = self.front.next_back()?;
                    self.remaining -= 1;
                    return Some(e);
                }
            }
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl FusedIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn list_of(items: &[&str], fill: i64) -> List {
        let mut l = List::new();
        l.push_all(End::Tail, items.iter().map(|s| s.as_bytes()), fill);
        l
    }

    fn contents(l: &List) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    fn node_counts(l: &List) -> Vec<usize> {
        match &l.repr {
            Repr::Listpack(n) => vec![n.count()],
            Repr::Quicklist(q) => q.nodes.iter().map(Node::count).collect(),
        }
    }

    #[test]
    fn redis_listpack_entry_sizes() {
        // Integers in binary, strings with a 1/2/5-byte header, plus backlen.
        assert_eq!(lp_entry_bytes(b"0"), 2);
        assert_eq!(lp_entry_bytes(b"127"), 2);
        assert_eq!(lp_entry_bytes(b"128"), 3);
        assert_eq!(lp_entry_bytes(b"-4096"), 3);
        assert_eq!(lp_entry_bytes(b"32767"), 4);
        assert_eq!(lp_entry_bytes(b"8388607"), 5);
        assert_eq!(lp_entry_bytes(b"2147483647"), 6);
        assert_eq!(lp_entry_bytes(b"9223372036854775807"), 10);
        assert_eq!(lp_entry_bytes(b"9223372036854775808"), 21);
        assert_eq!(lp_entry_bytes(b"007"), 5);
        assert_eq!(lp_entry_bytes(b"-0"), 4);
        assert_eq!(lp_entry_bytes(b""), 2);
        assert_eq!(lp_entry_bytes(&[b'a'; 63]), 65);
        assert_eq!(lp_entry_bytes(&[b'a'; 64]), 67);
        // 2 + 126 = 128 needs a 2-byte backlen.
        assert_eq!(lp_entry_bytes(&[b'a'; 126]), 130);
        assert_eq!(lp_entry_bytes(&[b'a'; 4096]), 4103);
    }

    #[test]
    fn limits_follow_redis() {
        assert_eq!(node_limit(-1), (4096, usize::MAX));
        assert_eq!(node_limit(-5), (65536, usize::MAX));
        assert_eq!(node_limit(-100), (65536, usize::MAX));
        assert_eq!(node_limit(0), (usize::MAX, 1));
        assert_eq!(node_limit(128), (usize::MAX, 128));
        // With a count limit, 8 KB is still the most a node may hold.
        assert!(exceeds_limit(128, 8193, 2));
        assert!(!exceeds_limit(128, 8192, 128));
        assert!(exceeds_limit(128, 100, 129));
        assert!(is_large(8193, 5));
        assert!(!is_large(8192, 5));
        assert!(is_large(8193, -2));
        assert!(!is_large(8192, -2));
    }

    #[test]
    fn converts_at_the_count_limit_and_back_at_half() {
        let fill = 4;
        let mut l = list_of(&["a", "b", "c", "d"], fill);
        assert_eq!(l.encoding(), "listpack");
        l.push_all(End::Tail, [&b"e"[..]], fill);
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(node_counts(&l), [4, 1]);
        l.pop(End::Tail);
        l.convert_after_shrink(fill);
        assert_eq!(
            l.encoding(),
            "quicklist",
            "4 entries is above half the limit"
        );
        l.pop(End::Tail);
        l.convert_after_shrink(fill);
        assert_eq!(l.encoding(), "quicklist");
        l.pop(End::Tail);
        l.convert_after_shrink(fill);
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(contents(&l), ["a", "b"]);
        l.check_invariants();
    }

    #[test]
    fn a_batch_that_does_not_fit_converts_before_pushing() {
        let fill = 4;
        let mut l = list_of(&["a", "b", "c"], fill);
        l.push_all(End::Head, [&b"x"[..], b"y"], fill);
        assert_eq!(l.encoding(), "quicklist");
        // y goes into a new head node: the old node (3 + x) was full.
        assert_eq!(node_counts(&l), [1, 4]);
        assert_eq!(contents(&l), ["y", "x", "a", "b", "c"]);
        l.check_invariants();
    }

    #[test]
    fn converts_at_the_byte_limit() {
        // -1: 4096 bytes. 7 bytes of header, then 40 + 2 per entry.
        let fill = -1;
        let v = [b'v'; 40];
        let mut l = List::new();
        let mut n = 0;
        while l.encoding() == "listpack" {
            l.push_all(End::Tail, [&v[..]], fill);
            n += 1;
        }
        // Converts before the push that would pass 4096: 7 + 42 * 97 = 4081,
        // and 4081 + 40 > 4096.
        assert_eq!(n, 98);
        assert_eq!(node_counts(&l), [97, 1]);
        // A large element gets a plain node of its own.
        l.push_all(End::Tail, [&[b'x'; 5000][..]], fill);
        assert_eq!(node_counts(&l), [97, 1, 1]);
        match &l.repr {
            Repr::Quicklist(q) => assert!(q.nodes[2].plain),
            Repr::Listpack(_) => unreachable!(),
        }
        l.check_invariants();
    }

    #[test]
    fn a_plain_node_alone_stays_a_quicklist() {
        let fill = -2;
        let mut l = List::new();
        l.push_all(End::Tail, [&[b'x'; 9000][..]], fill);
        assert_eq!(l.encoding(), "quicklist");
        l.convert_after_shrink(fill);
        assert_eq!(l.encoding(), "quicklist");
        assert!(l.set(0, b"small"));
        l.convert_after_shrink(fill);
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(contents(&l), ["small"]);
        l.check_invariants();
    }

    #[test]
    fn lset_on_a_full_listpack_converts_first() {
        // Redis checks "one more element" before LSET, so a listpack at the
        // count limit becomes a quicklist, and stays one (4 > 4 / 2).
        let fill = 4;
        let mut l = list_of(&["a", "b", "c", "d"], fill);
        l.convert_for_growth([&b"z"[..]], fill);
        assert!(l.set(-1, b"z"));
        l.convert_after_shrink(fill);
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(contents(&l), ["a", "b", "c", "z"]);
    }

    #[test]
    fn insert_splits_full_nodes_and_merges() {
        let fill = 3;
        let mut l = list_of(&["a", "b", "c", "d", "e", "f"], fill);
        assert_eq!(node_counts(&l), [3, 3]);
        // Middle of a full node: split it into [a] [b c] and put x before b.
        l.insert(0, true, b"x");
        assert_eq!(contents(&l), ["a", "x", "b", "c", "d", "e", "f"]);
        assert_eq!(node_counts(&l), [1, 3, 3]);
        // Before the head of a full node whose previous node has room.
        l.insert(1, false, b"w");
        assert_eq!(node_counts(&l), [2, 3, 3]);
        // After the tail of a full node, no next node: a new node.
        l.insert(7, true, b"y");
        assert_eq!(node_counts(&l), [2, 3, 3, 1]);
        // Splitting again; no neighbours are small enough to merge.
        l.insert(3, true, b"m");
        assert_eq!(node_counts(&l), [2, 2, 2, 3, 1]);
        assert_eq!(
            contents(&l),
            ["a", "w", "x", "b", "m", "c", "d", "e", "f", "y"]
        );
        // Emptying the middle lets a later split merge its neighbours.
        let mut l = list_of(&["a", "b", "c", "d", "e", "f", "g", "h", "i"], 4);
        assert_eq!(node_counts(&l), [4, 4, 1]);
        l.insert(1, true, b"x");
        assert_eq!(node_counts(&l), [2, 3, 4, 1]);
        l.insert(6, true, b"y");
        // [a b][x c d][e f] + [y g h] then [y g h] merges with [i]: 4 fits.
        assert_eq!(node_counts(&l), [2, 3, 2, 4]);
        assert_eq!(
            contents(&l),
            ["a", "b", "x", "c", "d", "e", "f", "y", "g", "h", "i"]
        );
        l.check_invariants();
    }

    #[test]
    fn ranges_and_positions() {
        let l = list_of(&["a", "b", "c", "a", "b", "c", "a"], 2);
        assert_eq!(l.encoding(), "quicklist");
        let r: Vec<_> = l.range(2..6).collect();
        assert_eq!(r, [&b"c"[..], b"a", b"b", b"c"]);
        let r: Vec<_> = l.range(2..6).rev().collect();
        assert_eq!(r, [&b"c"[..], b"b", b"a", b"c"]);
        assert_eq!(l.range(5..100).len(), 2);
        assert_eq!(l.range(9..100).len(), 0);
        assert_eq!(clamp_range(7, 0, -1), Some(0..7));
        assert_eq!(clamp_range(7, -100, 2), Some(0..3));
        assert_eq!(clamp_range(7, 5, 2), None);
        assert_eq!(clamp_range(7, 7, 9), None);
        assert_eq!(clamp_range(0, 0, -1), None);
        assert_eq!(l.positions(b"a", 1, 1, 0), [0]);
        assert_eq!(l.positions(b"a", 2, 0, 0), [3, 6]);
        assert_eq!(l.positions(b"a", -1, 0, 0), [6, 3, 0]);
        assert_eq!(l.positions(b"a", -2, 1, 0), [3]);
        assert_eq!(l.positions(b"c", 1, 0, 3), [2]);
        assert_eq!(l.positions(b"a", i64::MIN, 0, 0), Vec::<usize>::new());
        assert_eq!(l.get(-1), Some(&b"a"[..]));
        assert_eq!(l.get(-7), Some(&b"a"[..]));
        assert_eq!(l.get(-8), None);
        assert_eq!(l.get(i64::MIN), None);
        assert_eq!(l.get(7), None);
    }

    // ----- property test against a VecDeque model -----

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Few distinct short values, so LREM/LPOS/LINSERT find matches.
            6 => prop::sample::select(vec!["a", "b", "c", "", "1", "-5", "300", "70000"])
                .prop_map(|s| s.as_bytes().to_vec()),
            2 => proptest::collection::vec(any::<u8>(), 0..40),
            // Near and over the byte limits of fills -1 and -2 and 8 KB.
            1 => (prop::sample::select(vec![1000usize, 2100, 4090, 4200, 8200, 9000]), any::<u8>())
                .prop_map(|(n, b)| vec![b; n]),
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(bool, Vec<Vec<u8>>),
        Pop(bool),
        PopMany(bool, usize),
        Get(i64),
        Set(i64, Vec<u8>),
        Insert(Vec<u8>, bool, Vec<u8>),
        Remove(Vec<u8>, i64),
        Trim(i64, i64),
        Pos(Vec<u8>, i64, usize, usize),
        Range(i64, i64, bool),
        Walk(Vec<bool>),
        Shrink,
        Auto,
        Refill(i64),
    }

    fn idx() -> impl Strategy<Value = i64> {
        prop_oneof![-12i64..12, Just(i64::MIN), Just(i64::MAX)]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<bool>(), proptest::collection::vec(value(), 1..5))
                .prop_map(|(h, v)| Op::Push(h, v)),
            3 => any::<bool>().prop_map(Op::Pop),
            2 => (any::<bool>(), 0usize..6).prop_map(|(h, n)| Op::PopMany(h, n)),
            1 => idx().prop_map(Op::Get),
            2 => (idx(), value()).prop_map(|(i, v)| Op::Set(i, v)),
            3 => (value(), any::<bool>(), value()).prop_map(|(p, a, v)| Op::Insert(p, a, v)),
            2 => (value(), -3i64..3).prop_map(|(v, c)| Op::Remove(v, c)),
            1 => (idx(), idx()).prop_map(|(a, b)| Op::Trim(a, b)),
            1 => (value(), prop_oneof![-3i64..0, 1i64..4], 0usize..3, 0usize..6)
                .prop_map(|(v, r, c, m)| Op::Pos(v, r, c, m)),
            1 => (idx(), idx(), any::<bool>()).prop_map(|(a, b, r)| Op::Range(a, b, r)),
            1 => proptest::collection::vec(any::<bool>(), 0..10).prop_map(Op::Walk),
            1 => Just(Op::Shrink),
            1 => Just(Op::Auto),
            1 => prop::sample::select(vec![0i64, 1, 2, 3, 4, 5, -1, -2]).prop_map(Op::Refill),
        ]
    }

    fn resolve_model(len: usize, i: i64) -> Option<usize> {
        let i = if i < 0 {
            len as i128 + i as i128
        } else {
            i as i128
        };
        (0..len as i128).contains(&i).then_some(i as usize)
    }

    fn end(head: bool) -> End {
        if head {
            End::Head
        } else {
            End::Tail
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn behaves_like_vecdeque(
            start_fill in prop::sample::select(vec![0i64, 1, 2, 3, 4, -1, -2]),
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            let mut fill = start_fill;
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(head, vals) => {
                        l.push_all(end(head), vals.iter().map(Vec::as_slice), fill);
                        for v in vals {
                            if head { m.push_front(v) } else { m.push_back(v) }
                        }
                    }
                    Op::Pop(head) => {
                        let want = if head { m.pop_front() } else { m.pop_back() };
                        prop_assert_eq!(l.pop(end(head)), want);
                        l.convert_after_shrink(fill);
                    }
                    Op::PopMany(head, n) => {
                        let mut want = Vec::new();
                        for _ in 0..n {
                            match if head { m.pop_front() } else { m.pop_back() } {
                                Some(v) => want.push(v),
                                None => break,
                            }
                        }
                        prop_assert_eq!(l.pop_many(end(head), n), want);
                        l.convert_after_shrink(fill);
                    }
                    Op::Get(i) => {
                        let want = resolve_model(m.len(), i).map(|i| m[i].as_slice());
                        prop_assert_eq!(l.get(i), want);
                    }
                    Op::Set(i, v) => {
                        l.convert_for_growth([v.as_slice()], fill);
                        let at = resolve_model(m.len(), i);
                        prop_assert_eq!(l.set(i, &v), at.is_some());
                        if let Some(at) = at {
                            m[at] = v;
                            l.convert_after_shrink(fill);
                        }
                    }
                    Op::Insert(pivot, after, v) => {
                        l.convert_for_growth([v.as_slice()], fill);
                        let found = l.find(&pivot);
                        prop_assert_eq!(found, m.iter().position(|e| *e == pivot));
                        if let Some(p) = found {
                            l.insert(p, after, &v);
                            m.insert(p + usize::from(after), v);
                        }
                    }
                    Op::Remove(v, count) => {
                        let mut idx: Vec<usize> =
                            m.iter().enumerate().filter(|(_, e)| **e == v).map(|(i, _)| i).collect();
                        if count < 0 { idx.reverse(); }
                        if count != 0 { idx.truncate(count.unsigned_abs() as usize); }
                        idx.sort_unstable();
                        for &i in idx.iter().rev() { m.remove(i); }
                        prop_assert_eq!(l.remove(&v, count), idx.len());
                        l.convert_after_shrink(fill);
                    }
                    Op::Trim(a, b) => {
                        let keep = clamp_range(m.len(), a, b);
                        let before = m.len();
                        m = match keep.clone() {
                            Some(r) => m.range(r).cloned().collect(),
                            None => VecDeque::new(),
                        };
                        prop_assert_eq!(l.trim(a, b), before - m.len());
                        l.convert_after_shrink(fill);
                    }
                    Op::Pos(v, rank, count, maxlen) => {
                        let scan = if maxlen == 0 { m.len() } else { maxlen.min(m.len()) };
                        let order: Vec<usize> = if rank < 0 {
                            (0..m.len()).rev().take(scan).collect()
                        } else {
                            (0..m.len()).take(scan).collect()
                        };
                        let mut want: Vec<usize> = order
                            .into_iter()
                            .filter(|&i| m[i] == v)
                            .skip(rank.unsigned_abs() as usize - 1)
                            .collect();
                        if count != 0 { want.truncate(count); }
                        prop_assert_eq!(l.positions(&v, rank, count, maxlen), want);
                    }
                    Op::Range(a, b, rev) => {
                        let r = clamp_range(m.len(), a, b).unwrap_or(0..0);
                        let want: Vec<&[u8]> = m.range(r.clone()).map(Vec::as_slice).collect();
                        let mut got: Vec<&[u8]> = l.range(r.clone()).collect();
                        prop_assert_eq!(l.range(r.clone()).len(), want.len());
                        if rev {
                            got = l.range(r).rev().collect();
                            got.reverse();
                        }
                        prop_assert_eq!(got, want);
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
                    Op::Shrink => l.convert_after_shrink(fill),
                    Op::Auto => l.convert_auto(fill),
                    Op::Refill(f) => fill = f,
                }
                l.check_invariants();
                prop_assert_eq!(l.len(), m.len());
                prop_assert!(l.iter().eq(m.iter().map(Vec::as_slice)));
                prop_assert!(l.iter().rev().eq(m.iter().rev().map(Vec::as_slice)));
                // Node limits hold for the quicklist's own fill.
                if let Repr::Quicklist(q) = &l.repr {
                    for n in &q.nodes {
                        if n.plain {
                            prop_assert!(is_large(n.sz, q.fill));
                        }
                    }
                }
            }
        }
    }
}
