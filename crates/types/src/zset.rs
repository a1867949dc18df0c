//! Skiplist-backed sorted set: the "skiplist" encoding of large Redis sorted sets.
//!
//! Redis stores large sorted sets (more than `zset-max-listpack-entries` members
//! or a member longer than `zset-max-listpack-value`) as a skiplist ordered by
//! `(score, member)` plus a dict `member -> score`. [`SortedSet`] is the same
//! data structure, written in safe Rust and laid out to use less memory and
//! fewer cache misses per search:
//!
//! * **Arenas with `u32` links.** All nodes live in one `Vec<Node>`; links are
//!   `u32` indices instead of pointers (index 0 is the header node, which also
//!   serves as the "null" link because nothing ever points back at it). This
//!   keeps the code free of `unsafe`, halves the size of every link compared to
//!   a pointer, and replaces one heap allocation per node with a slot in a
//!   shared vector. Freed slots are kept on an intrusive free list (threaded
//!   through `prev`) and reused by the next insert.
//! * **Redis-style levels with spans.** Every forward link also records how
//!   many level-0 steps it skips. Summing spans during a normal top-down search
//!   gives the rank of the element that was found, so `ZRANK`, `ZRANGE` by
//!   index, `ZCOUNT`, `ZLEXCOUNT` and `ZREMRANGEBYRANK` are `O(log n)` (plus
//!   the size of the output) instead of a linear walk. Levels are drawn with
//!   `p = 0.25` and capped at 32, exactly like Redis.
//! * **Compact nodes.** A node is 48 bytes in the arena: the member's
//!   exact-size allocation (`Box<[u8]>`), the score, `prev`/`next` links for
//!   level 0 with the next node's score, the tower height and where its tower
//!   is. Level 0 needs no stored span (it is always 1, or 0 after the last
//!   node).
//! * **Towers in their own arena, one cache miss per step.** The levels above
//!   level 0 (needed by only 25% of nodes) are [`Link`]s of 20 bytes, a node's
//!   links contiguous in one shared `Vec<Link>`. Each link caches the score of
//!   the node it points to and where that node's tower is (level 0 caches the
//!   score in the node), so a search compares against the next node without
//!   loading it, and moving to it loads only its tower: one cache miss per
//!   step, where Redis pays one per comparison. The next node's member is
//!   read only on a score tie. Freed towers go on free lists by height.
//! * **Member index without a second copy.** The `member -> node` lookup is a
//!   [`hashbrown::HashTable<u32>`] holding only node indices; hashing and
//!   equality go through the member bytes stored in the node. Redis keeps the
//!   member string once but pays a dict entry (24 bytes), a bucket pointer
//!   (8 bytes) and a node with 24 bytes of header plus 16 bytes per level;
//!   here the index costs about 5-10 bytes per member. With short members
//!   (`member:123456`) the whole structure takes roughly 87 bytes per member
//!   (see [`SortedSet::mem_bytes`]), against well over 100 in Redis.
//!
//! Ordering is exactly Redis's: by score (an `f64` that is never NaN; `-0.0`
//! and `0.0` compare equal), then by member bytes in `memcmp` order. Lexicographic
//! range helpers (`ZRANGEBYLEX` and friends) compare members only and, as in
//! Redis, are only meaningful when all scores are equal.
//!
//! Callers must never pass a NaN score (Redis rejects those at the command
//! layer); doing so is checked by a debug assertion only.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Maximum number of levels of a node (same as Redis's `ZSKIPLIST_MAXLEVEL`).
pub const MAX_LEVEL: usize = 32;

/// Index of the header node in the arena. Because no link ever points at the
/// header, the same value doubles as the "no node" link ([`NIL`]).
const HEAD: u32 = 0;
/// "No node": the end of a level's chain, the `prev` of the first node, or the
/// end of the free list.
const NIL: u32 = 0;
/// Where the header's tower starts in [`SortedSet::links`].
const HEAD_TOWER: u32 = 0;

/// One upper level (`>= 1`) of a node's tower: the next node at this level,
/// how many level-0 steps that link skips, and, cached from that next node,
/// its score and where its tower starts. For a link to [`NIL`], `span` is the
/// number of nodes after this one (the Redis invariant, which keeps the
/// arithmetic in insert/delete uniform) and the cached fields are meaningless.
///
/// Packed to 4-byte alignment: 20 bytes instead of 24 (the score is only ever
/// copied out, never borrowed).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, packed(4))]
struct Link {
    next: u32,
    span: u32,
    next_tower: u32,
    next_score: f64,
}

/// A skiplist node: 48 bytes in the arena plus the member's allocation.
#[derive(Clone)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    /// The score of `next`, cached like an upper level's (meaningless when
    /// `next` is [`NIL`]).
    next_score: f64,
    /// Previous node at level 0 ([`NIL`] for the first node). For a free slot,
    /// the next free slot.
    prev: u32,
    /// Next node at level 0.
    next: u32,
    /// Index in [`SortedSet::links`] of this node's level 1 (levels `1..height`
    /// follow it); meaningless when the node has height 1.
    tower: u32,
    /// Number of levels above level 0 (`height - 1`).
    up: u8,
}

impl Node {
    #[inline]
    fn member(&self) -> &[u8] {
        &self.member
    }

    /// Number of levels in the tower (1..=[`MAX_LEVEL`]).
    #[inline]
    fn height(&self) -> usize {
        self.up as usize + 1
    }

    /// Heap bytes owned by this node besides the arena slot (approximate).
    fn heap_bytes(&self) -> usize {
        alloc_size(self.member.len())
    }
}

/// Where a search stopped on each level: the last node before the searched
/// position, as a node index on level 0 and as a tower position (index of
/// the tower's level 1 in [`SortedSet::links`]) above it, with the 1-based
/// rank of that node (0 for the header) on every level.
#[derive(Clone)]
struct Path {
    node0: u32,
    towers: [u32; MAX_LEVEL],
    rank: [u32; MAX_LEVEL],
}

impl Path {
    /// The path to the front of the set: the header on every level.
    const FRONT: Path = Path {
        node0: HEAD,
        towers: [HEAD_TOWER; MAX_LEVEL],
        rank: [0; MAX_LEVEL],
    };
}

/// Starts loading `value`'s cache line without waiting for it: a load whose
/// result nothing depends on, which the CPU issues alongside the loads that
/// follow (a safe stand-in for a prefetch instruction).
#[inline(always)]
fn prefetch(value: &Node) {
    std::hint::black_box(value.next);
}

/// `(a_score, a_member) < (b_score, b_member)` in sorted-set order.
#[inline]
fn less(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

/// Rough size of an allocation of `n` bytes (jemalloc-like size classes).
#[inline]
fn alloc_size(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        _ => n.next_multiple_of(16),
    }
}

#[inline]
fn hash_member(hasher: &DefaultHashBuilder, member: &[u8]) -> u64 {
    hasher.hash_one(member)
}

/// A bound for lexicographic range queries (`ZRANGEBYLEX`, `ZLEXCOUNT`, ...):
/// `-`, `+`, `[member` and `(member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    NegInf,
    PosInf,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

/// A sorted set of byte-string members ordered by `(score, member)`, with
/// `O(1)` member lookup and `O(log n)` insert, remove, rank and range
/// positioning. See the [module documentation](self) for the layout.
#[derive(Clone)]
pub struct SortedSet {
    /// Arena; `nodes[0]` is the header with [`MAX_LEVEL`] levels.
    nodes: Vec<Node>,
    /// Upper levels of every tower; the header's are the first
    /// `MAX_LEVEL - 1`.
    links: Vec<Link>,
    /// Per tower height `h` (index `h - 2`), the first free tower of that
    /// height ([`NIL`] when none; a free tower's level 1 `next` continues the
    /// list). The header's tower is never freed, so 0 cannot be a free tower.
    free_towers: [u32; MAX_LEVEL - 1],
    /// Member -> node index, hashed by the member bytes stored in the node.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Last node ([`NIL`] when empty).
    tail: u32,
    /// Number of levels currently in use (at least 1).
    level: usize,
    len: usize,
    /// Head of the free-slot list ([`NIL`] when empty).
    free_head: u32,
    /// Sum of [`Node::heap_bytes`] over live nodes.
    heap_bytes: usize,
    /// xorshift64* state for level generation.
    rng: u64,
}

impl Default for SortedSet {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SortedSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s)),
            )
            .finish()
    }
}

impl SortedSet {
    /// Creates an empty sorted set.
    pub fn new() -> Self {
        let header = Node {
            member: Box::default(),
            score: 0.0,
            next_score: 0.0,
            prev: NIL,
            next: NIL,
            tower: HEAD_TOWER,
            up: (MAX_LEVEL - 1) as u8,
        };
        let hasher = DefaultHashBuilder::default();
        // The hasher is randomly seeded per instance; reuse that entropy for
        // the level generator instead of pulling in another RNG.
        let seed = hasher.hash_one(0x9e37_79b9_7f4a_7c15_u64);
        SortedSet {
            nodes: vec![header],
            links: vec![Link::default(); MAX_LEVEL - 1],
            free_towers: [NIL; MAX_LEVEL - 1],
            index: HashTable::new(),
            hasher,
            tail: NIL,
            level: 1,
            len: 0,
            free_head: NIL,
            heap_bytes: 0,
            rng: if seed == 0 {
                0x2545_f491_4f6c_dd1d
            } else {
                seed
            },
        }
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap (plus inline) bytes used by the set: the arenas
    /// (including spare capacity and free slots), member allocations, and
    /// the member index.
    pub fn mem_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.links.capacity() * std::mem::size_of::<Link>()
            + self.heap_bytes
            + self.index.allocation_size()
    }

    #[inline]
    fn node(&self, idx: u32) -> &Node {
        &self.nodes[idx as usize]
    }

    #[inline]
    fn node_mut(&mut self, idx: u32) -> &mut Node {
        &mut self.nodes[idx as usize]
    }

    /// Level `i >= 1` of the tower starting at `tower`.
    #[inline]
    fn link(&self, tower: u32, i: usize) -> Link {
        debug_assert!(i >= 1);
        self.links[tower as usize + i - 1]
    }

    #[inline]
    fn link_mut(&mut self, tower: u32, i: usize) -> &mut Link {
        debug_assert!(i >= 1);
        &mut self.links[tower as usize + i - 1]
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let h = hash_member(&self.hasher, member);
        let nodes = &self.nodes;
        self.index
            .find(h, |&i| nodes[i as usize].member() == member)
            .copied()
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.find(member).is_some()
    }

    /// The score of `member`, if present (`ZSCORE`).
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|i| self.node(i).score)
    }

    fn random_level(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // Each pair of (high-quality, high) bits is zero with p = 1/4.
        1 + ((r.leading_zeros() / 2) as usize).min(MAX_LEVEL - 1)
    }

    /// The top-down walk every positioning operation shares. `r` is the
    /// number of elements stepped over so far. On each level,
    /// `ahead(link, r)` says whether to step to `link.next` (never [`NIL`];
    /// on level 0 the link is made up from the node, `next_tower` unset).
    /// Returns where the walk stopped on every level.
    #[inline]
    fn walk(&self, ahead: impl Fn(&Link, u32) -> bool) -> Path {
        let mut path = Path::FRONT;
        let (mut x, mut tower, mut r) = (HEAD, HEAD_TOWER, 0u32);
        for i in (1..self.level).rev() {
            loop {
                let l = self.link(tower, i);
                if l.next == NIL || !ahead(&l, r) {
                    break;
                }
                r += l.span;
                x = l.next;
                tower = l.next_tower;
                // Level 0 starts from the node the walk stops on: start
                // loading its slot while its tower loads.
                prefetch(&self.nodes[x as usize]);
            }
            path.towers[i] = tower;
            path.rank[i] = r;
        }
        loop {
            let n = self.node(x);
            let l = Link {
                next: n.next,
                span: 1,
                next_tower: NIL,
                next_score: n.next_score,
            };
            if l.next == NIL || !ahead(&l, r) {
                break;
            }
            r += 1;
            x = l.next;
        }
        path.node0 = x;
        path.rank[0] = r;
        path
    }

    /// For every level, the last node strictly before `(score, member)`.
    fn search(&self, score: f64, member: &[u8]) -> Path {
        // The next node itself is loaded only on a score tie.
        self.walk(|l, _| {
            let s = l.next_score;
            s < score || (s == score && self.node(l.next).member() < member)
        })
    }

    /// For every level, the last node whose 1-based rank is at most `rank`.
    fn path_to_rank(&self, rank: usize) -> Path {
        let rank = u32::try_from(rank).unwrap_or(u32::MAX);
        self.walk(|l, r| r + l.span <= rank)
    }

    /// Number of leading elements (in ascending order) satisfying `pred`, which
    /// must be true for a prefix of the set and false afterwards.
    fn count_prefix(&self, pred: impl Fn(&Node) -> bool) -> usize {
        let path = self.walk(|l, _| pred(self.node(l.next)));
        path.rank[0] as usize
    }

    /// Node at 0-based `rank`; requires `rank < len`.
    fn node_at_rank(&self, rank: usize) -> u32 {
        debug_assert!(rank < self.len);
        if rank == 0 {
            return self.node(HEAD).next;
        }
        if rank + 1 == self.len {
            return self.tail;
        }
        self.path_to_rank(rank + 1).node0
    }

    /// Takes a free tower of `height` (or grows the links arena); returns
    /// where it starts.
    fn alloc_tower(&mut self, height: usize) -> u32 {
        let free = &mut self.free_towers[height - 2];
        if *free != NIL {
            let tower = *free;
            *free = self.links[tower as usize].next;
            return tower;
        }
        let tower = u32::try_from(self.links.len())
            .ok()
            .filter(|t| t.checked_add(height as u32).is_some())
            .expect("sorted set too large");
        self.links
            .resize(self.links.len() + height - 1, Link::default());
        tower
    }

    /// Takes a free arena slot (or grows the arena) for a new node.
    fn alloc(&mut self, member: &[u8], score: f64, level: usize) -> u32 {
        let tower = if level > 1 {
            self.alloc_tower(level)
        } else {
            NIL
        };
        let node = Node {
            member: member.into(),
            score,
            next_score: 0.0,
            prev: NIL,
            next: NIL,
            tower,
            up: (level - 1) as u8,
        };
        self.heap_bytes += node.heap_bytes();
        if self.free_head != NIL {
            let idx = self.free_head;
            self.free_head = self.node(idx).prev;
            *self.node_mut(idx) = node;
            idx
        } else {
            let idx = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != u32::MAX)
                .expect("sorted set too large");
            self.nodes.push(node);
            idx
        }
    }

    /// Returns an unlinked, unindexed slot (and its tower) to the free
    /// lists; hands back the member it held.
    fn free(&mut self, idx: u32) -> Vec<u8> {
        let free_head = self.free_head;
        let node = self.node_mut(idx);
        let bytes = node.heap_bytes();
        let member = std::mem::take(&mut node.member).into_vec();
        let (tower, height) = (node.tower, node.height());
        node.next = NIL;
        node.prev = free_head;
        node.up = 0;
        self.heap_bytes -= bytes;
        self.free_head = idx;
        if height > 1 {
            let free = &mut self.free_towers[height - 2];
            self.links[tower as usize].next = *free;
            *free = tower;
        }
        member
    }

    /// Links node `idx` (whose tower is already allocated) after the nodes in
    /// `path` (as returned by [`Self::search`]).
    fn link_node(&mut self, idx: u32, mut path: Path) {
        let (lvl, tower, score) = {
            let n = self.node(idx);
            (n.height(), n.tower, n.score)
        };
        if lvl > self.level {
            let len = self.len as u32;
            for i in self.level..lvl {
                path.towers[i] = HEAD_TOWER;
                path.rank[i] = 0;
                *self.link_mut(HEAD_TOWER, i) = Link {
                    next: NIL,
                    span: len,
                    ..Link::default()
                };
            }
            self.level = lvl;
        }
        for i in 1..lvl {
            let u = path.towers[i];
            let ul = self.link(u, i);
            let d = path.rank[0] - path.rank[i];
            *self.link_mut(tower, i) = Link {
                span: ul.span - d,
                ..ul
            };
            *self.link_mut(u, i) = Link {
                next: idx,
                span: d + 1,
                next_tower: tower,
                next_score: score,
            };
        }
        for i in lvl..self.level {
            self.link_mut(path.towers[i], i).span += 1;
        }
        let prev = path.node0;
        let p = self.node_mut(prev);
        let (next, next_score) = (p.next, p.next_score);
        p.next = idx;
        p.next_score = score;
        let n = self.node_mut(idx);
        n.prev = prev;
        n.next = next;
        n.next_score = next_score;
        if next != NIL {
            self.node_mut(next).prev = idx;
        } else {
            self.tail = idx;
        }
        self.len += 1;
    }

    /// Unlinks node `idx`; `path` holds, per level, the last node before it.
    fn unlink(&mut self, idx: u32, path: &Path) {
        let tower = self.node(idx).tower;
        for i in 1..self.level {
            let u = path.towers[i];
            let ul = self.link(u, i);
            if ul.next == idx {
                let xl = self.link(tower, i);
                *self.link_mut(u, i) = Link {
                    span: ul.span - 1 + xl.span,
                    ..xl
                };
            } else {
                self.link_mut(u, i).span -= 1;
            }
        }
        debug_assert_eq!(self.node(path.node0).next, idx);
        let Node {
            prev,
            next,
            next_score,
            ..
        } = *self.node(idx);
        let p = self.node_mut(path.node0);
        p.next = next;
        p.next_score = next_score;
        if next != NIL {
            self.node_mut(next).prev = prev;
        } else {
            self.tail = prev;
        }
        while self.level > 1 && self.link(HEAD_TOWER, self.level - 1).next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Removes node `idx` from the member index.
    fn unindex(&mut self, idx: u32) {
        let h = hash_member(&self.hasher, self.node(idx).member());
        match self.index.find_entry(h, |&i| i == idx) {
            Ok(entry) => {
                entry.remove();
            }
            Err(_) => unreachable!("node {idx} missing from index"),
        }
    }

    /// Unlinks, unindexes and frees node `idx`.
    fn delete_node(&mut self, idx: u32, path: &Path) -> (Vec<u8>, f64) {
        self.unlink(idx, path);
        self.unindex(idx);
        let score = self.node(idx).score;
        (self.free(idx), score)
    }

    /// Finds the path to an existing node and deletes it.
    fn delete_existing(&mut self, idx: u32) -> (Vec<u8>, f64) {
        let n = self.node(idx);
        let path = self.search(n.score, n.member());
        self.delete_node(idx, &path)
    }

    /// Adds `member` with `score`, or updates its score if already present
    /// (moving it if its position changes). Returns the previous score.
    ///
    /// As in Redis, a new score that compares equal to the old one (e.g. `-0.0`
    /// vs `0.0`) leaves the stored score untouched.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan(), "NaN score");
        if let Some(idx) = self.find(member) {
            let old = self.node(idx).score;
            if old != score {
                self.update_score(idx, score);
            }
            return Some(old);
        }
        let level = self.random_level();
        let path = self.search(score, member);
        let idx = self.alloc(member, score, level);
        self.link_node(idx, path);
        let h = hash_member(&self.hasher, member);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index
            .insert_unique(h, idx, |&i| hash_member(hasher, nodes[i as usize].member()));
        None
    }

    /// Changes the score of existing node `idx`, repositioning it if needed.
    fn update_score(&mut self, idx: u32, score: f64) {
        let n = self.node(idx);
        let (prev, next) = (n.prev, n.next);
        // Short-circuits: a score that moved down is not checked against
        // the next node, whose score is cached anyway.
        let in_place = (prev == NIL || {
            let p = self.node(prev);
            less(p.score, p.member(), score, n.member())
        }) && (next == NIL
            || score < n.next_score
            || (score == n.next_score && n.member() < self.node(next).member()));
        let height = n.height();
        if in_place && height == 1 {
            // Still in the same place, and no tower caches the score: only
            // the previous node's cached copy changes.
            self.node_mut(idx).score = score;
            self.node_mut(prev).next_score = score;
            return;
        }
        let path = self.search(n.score, n.member());
        if in_place {
            // In place, but the levels that link here cache the old score.
            self.node_mut(idx).score = score;
            self.node_mut(prev).next_score = score;
            for i in 1..height {
                self.link_mut(path.towers[i], i).next_score = score;
            }
            return;
        }
        // Unlink, then relink at the new position reusing the node, its
        // member allocation, its tower and its index entry.
        self.unlink(idx, &path);
        self.node_mut(idx).score = score;
        let n = self.node(idx);
        let path = self.search(score, n.member());
        self.link_node(idx, path);
    }

    /// Removes `member`, returning its score (`ZREM`).
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let h = hash_member(&self.hasher, member);
        let nodes = &self.nodes;
        let idx = match self
            .index
            .find_entry(h, |&i| nodes[i as usize].member() == member)
        {
            Ok(entry) => entry.remove().0,
            Err(_) => return None,
        };
        let n = self.node(idx);
        let score = n.score;
        let path = self.search(score, n.member());
        self.unlink(idx, &path);
        self.free(idx);
        Some(score)
    }

    /// 0-based ascending rank of `member` (`ZRANK`).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let idx = self.find(member)?;
        let n = self.node(idx);
        // The elements before `member`, which the search steps over.
        Some(self.search(n.score, n.member()).rank[0] as usize)
    }

    /// The element at 0-based ascending `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len {
            return None;
        }
        let n = self.node(self.node_at_rank(rank));
        Some((n.member(), n.score))
    }

    /// Ascending iterator over all elements.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from_rank(0)
    }

    /// Lazy ascending iterator starting at 0-based rank `start` (empty if
    /// `start >= len`).
    pub fn iter_from_rank(&self, start: usize) -> Iter<'_> {
        if start >= self.len {
            return Iter {
                set: self,
                cur: NIL,
                remaining: 0,
            };
        }
        Iter {
            set: self,
            cur: self.node_at_rank(start),
            remaining: self.len - start,
        }
    }

    /// Lazy descending iterator starting at the element whose rank counted from
    /// the highest is `start_from_end` (0 = highest; empty if out of range), as
    /// `ZREVRANGE` indexes.
    pub fn iter_rev_from_rank(&self, start_from_end: usize) -> RevIter<'_> {
        if start_from_end >= self.len {
            return RevIter {
                set: self,
                cur: NIL,
                remaining: 0,
            };
        }
        RevIter {
            set: self,
            cur: self.node_at_rank(self.len - 1 - start_from_end),
            remaining: self.len - start_from_end,
        }
    }

    /// Rank of the first element with score `>= min` (or `> min` when
    /// `min_exclusive`); `len()` if there is none.
    pub fn first_rank_in_score(&self, min: f64, min_exclusive: bool) -> usize {
        if min_exclusive {
            self.count_prefix(|n| n.score <= min)
        } else {
            self.count_prefix(|n| n.score < min)
        }
    }

    /// Rank of the last element with score `<= max` (or `< max` when
    /// `max_exclusive`); `None` if there is none.
    pub fn last_rank_in_score(&self, max: f64, max_exclusive: bool) -> Option<usize> {
        self.count_score_le(max, max_exclusive).checked_sub(1)
    }

    fn count_score_le(&self, max: f64, max_exclusive: bool) -> usize {
        if max_exclusive {
            self.count_prefix(|n| n.score < max)
        } else {
            self.count_prefix(|n| n.score <= max)
        }
    }

    /// Number of elements with score in the given range (`ZCOUNT`).
    pub fn count_in_score(
        &self,
        min: f64,
        min_exclusive: bool,
        max: f64,
        max_exclusive: bool,
    ) -> usize {
        let hi = self.count_score_le(max, max_exclusive);
        if hi == 0 {
            return 0;
        }
        hi.saturating_sub(self.first_rank_in_score(min, min_exclusive))
    }

    /// Rank of the first member within lex bound `min`; `len()` if none.
    /// Assumes all scores are equal.
    pub fn first_rank_in_lex(&self, min: &LexBound<'_>) -> usize {
        match *min {
            LexBound::NegInf => 0,
            LexBound::PosInf => self.len,
            LexBound::Incl(m) => self.count_prefix(|n| n.member() < m),
            LexBound::Excl(m) => self.count_prefix(|n| n.member() <= m),
        }
    }

    /// Rank of the last member within lex bound `max`; `None` if none.
    /// Assumes all scores are equal.
    pub fn last_rank_in_lex(&self, max: &LexBound<'_>) -> Option<usize> {
        self.count_lex_le(max).checked_sub(1)
    }

    fn count_lex_le(&self, max: &LexBound<'_>) -> usize {
        match *max {
            LexBound::NegInf => 0,
            LexBound::PosInf => self.len,
            LexBound::Incl(m) => self.count_prefix(|n| n.member() <= m),
            LexBound::Excl(m) => self.count_prefix(|n| n.member() < m),
        }
    }

    /// Number of members within the lex range (`ZLEXCOUNT`). Assumes all
    /// scores are equal.
    pub fn count_in_lex(&self, min: &LexBound<'_>, max: &LexBound<'_>) -> usize {
        let hi = self.count_lex_le(max);
        if hi == 0 {
            return 0;
        }
        hi.saturating_sub(self.first_rank_in_lex(min))
    }

    /// Removes the elements with 0-based ranks `start..=end_inclusive`
    /// (`end_inclusive` is clamped to `len() - 1`); returns how many were
    /// removed (`ZREMRANGEBYRANK`).
    pub fn remove_range_by_rank(&mut self, start: usize, end_inclusive: usize) -> usize {
        if start >= self.len || start > end_inclusive {
            return 0;
        }
        let end = end_inclusive.min(self.len - 1);
        // The last node before `start` on every level.
        let path = self.path_to_rank(start);
        debug_assert_eq!(path.rank[0] as usize, start);
        let count = end - start + 1;
        let mut cur = self.node(path.node0).next;
        for _ in 0..count {
            let next = self.node(cur).next;
            self.delete_node(cur, &path);
            cur = next;
        }
        count
    }

    /// Removes and returns the lowest element.
    pub fn pop_min(&mut self) -> Option<(Vec<u8>, f64)> {
        if self.len == 0 {
            return None;
        }
        let idx = self.node(HEAD).next;
        // Nothing precedes the first node: the header is the predecessor at
        // every level.
        let (m, s) = self.delete_node(idx, &Path::FRONT);
        Some((m, s))
    }

    /// Removes and returns the highest element.
    pub fn pop_max(&mut self) -> Option<(Vec<u8>, f64)> {
        if self.len == 0 {
            return None;
        }
        let (m, s) = self.delete_existing(self.tail);
        Some((m, s))
    }

    /// Checks every structural invariant; panics on violation. Test helper.
    #[cfg(test)]
    fn check_invariants(&self) {
        assert!(self.level >= 1 && self.level <= MAX_LEVEL);
        assert_eq!(self.index.len(), self.len);
        // Level 0: order, prev links, tail, len.
        let mut order = Vec::with_capacity(self.len);
        let mut x = self.node(HEAD).next;
        let mut prev = NIL;
        while x != NIL {
            let p = self.node(prev);
            let n = self.node(x);
            assert_eq!(
                p.next_score.to_bits(),
                n.score.to_bits(),
                "cached score of {x}"
            );
            assert_eq!(n.prev, prev, "prev link of {x}");
            assert!(n.height() <= MAX_LEVEL);
            assert!(!n.score.is_nan());
            if prev != NIL {
                let p = self.node(prev);
                assert!(less(p.score, p.member(), n.score, n.member()), "order");
            }
            assert_eq!(self.find(n.member()), Some(x), "index");
            order.push(x);
            prev = x;
            x = n.next;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(order.len(), self.len);
        let mut pos = vec![usize::MAX; self.nodes.len()];
        for (r, &i) in order.iter().enumerate() {
            pos[i as usize] = r + 1;
        }
        pos[HEAD as usize] = 0;
        // Every upper level: links go forward, skip exactly `span` nodes,
        // cache the next node's score and tower, and visit exactly the nodes
        // that are tall enough.
        for i in 1..self.level {
            let mut x = HEAD;
            let mut walked = 0;
            loop {
                let l = self.link(self.node(x).tower, i);
                if l.next == NIL {
                    assert_eq!(l.span as usize, self.len - pos[x as usize], "tail span");
                    break;
                }
                assert_eq!(
                    pos[l.next as usize] - pos[x as usize],
                    l.span as usize,
                    "span"
                );
                let n = self.node(l.next);
                assert_eq!(l.next_score.to_bits(), n.score.to_bits(), "cached score");
                assert_eq!(l.next_tower, n.tower, "cached tower");
                walked += 1;
                x = l.next;
            }
            let tall = order.iter().filter(|&&n| self.node(n).height() > i).count();
            assert_eq!(walked, tall, "level {i} membership");
        }
        if self.level > 1 {
            assert_ne!(self.link(HEAD_TOWER, self.level - 1).next, NIL);
        }
        for i in self.level..MAX_LEVEL {
            assert!(order.iter().all(|&n| self.node(n).height() <= i));
        }
        // Free list + live nodes cover the arena.
        let mut free = 0;
        let mut f = self.free_head;
        while f != NIL {
            assert_eq!(pos[f as usize], usize::MAX);
            free += 1;
            f = self.node(f).prev;
        }
        assert_eq!(free + self.len + 1, self.nodes.len());
        // Live towers (and the header's) + free towers cover the links
        // arena without overlapping.
        let mut owner = vec![false; self.links.len()];
        let mut claim = |tower: u32, height: usize| {
            for o in &mut owner[tower as usize..tower as usize + height - 1] {
                assert!(!*o, "towers overlap");
                *o = true;
            }
        };
        claim(HEAD_TOWER, MAX_LEVEL);
        for &n in &order {
            let n = self.node(n);
            if n.height() > 1 {
                claim(n.tower, n.height());
            }
        }
        for (h, &first) in self.free_towers.iter().enumerate() {
            let mut t = first;
            while t != NIL {
                claim(t, h + 2);
                t = self.links[t as usize].next;
            }
        }
        assert!(owner.iter().all(|&o| o), "a tower slot is lost");
        let heap: usize = order.iter().map(|&n| self.node(n).heap_bytes()).sum();
        assert_eq!(heap, self.heap_bytes);
    }
}

/// Ascending iterator returned by [`SortedSet::iter`] and
/// [`SortedSet::iter_from_rank`].
#[derive(Clone)]
pub struct Iter<'a> {
    set: &'a SortedSet,
    cur: u32,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let n = self.set.node(self.cur);
        self.cur = n.next;
        self.remaining -= 1;
        Some((n.member(), n.score))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl std::iter::FusedIterator for Iter<'_> {}

/// Descending iterator returned by [`SortedSet::iter_rev_from_rank`].
#[derive(Clone)]
pub struct RevIter<'a> {
    set: &'a SortedSet,
    cur: u32,
    remaining: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let n = self.set.node(self.cur);
        self.cur = n.prev;
        self.remaining -= 1;
        Some((n.member(), n.score))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for RevIter<'_> {}
impl std::iter::FusedIterator for RevIter<'_> {}

impl<'a> IntoIterator for &'a SortedSet {
    type Item = (&'a [u8], f64);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Reference model: a sorted vector plus a member -> score map.
    #[derive(Default)]
    struct Model {
        sorted: Vec<(f64, Vec<u8>)>,
        map: HashMap<Vec<u8>, f64>,
    }

    fn cmp(a: &(f64, Vec<u8>), b: &(f64, Vec<u8>)) -> std::cmp::Ordering {
        a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1))
    }

    impl Model {
        fn pos(&self, member: &[u8]) -> Option<usize> {
            let s = *self.map.get(member)?;
            let key = (s, member.to_vec());
            Some(self.sorted.binary_search_by(|e| cmp(e, &key)).unwrap())
        }
        fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
            let old = self.map.get(member).copied();
            if let Some(o) = old {
                if o == score {
                    return old;
                }
                let p = self.pos(member).unwrap();
                self.sorted.remove(p);
            }
            self.map.insert(member.to_vec(), score);
            let key = (score, member.to_vec());
            let p = self.sorted.binary_search_by(|e| cmp(e, &key)).unwrap_err();
            self.sorted.insert(p, key);
            old
        }
        fn remove(&mut self, member: &[u8]) -> Option<f64> {
            let p = self.pos(member)?;
            self.sorted.remove(p);
            self.map.remove(member)
        }
        fn count(&self, pred: impl Fn(&(f64, Vec<u8>)) -> bool) -> usize {
            self.sorted.iter().filter(|e| pred(e)).count()
        }
        fn pop(&mut self, at: usize) -> (Vec<u8>, f64) {
            let (s, m) = self.sorted.remove(at);
            self.map.remove(&m);
            (m, s)
        }
    }

    fn check_same(set: &SortedSet, model: &Model) {
        set.check_invariants();
        assert_eq!(set.len(), model.sorted.len());
        let got: Vec<(Vec<u8>, u64)> = set.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect();
        let want: Vec<(Vec<u8>, u64)> = model
            .sorted
            .iter()
            .map(|(s, m)| (m.clone(), s.to_bits()))
            .collect();
        assert_eq!(got, want);
    }

    fn lex_below_min(b: &LexBound<'_>, m: &[u8]) -> bool {
        match *b {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m < x,
            LexBound::Excl(x) => m <= x,
        }
    }

    fn lex_le_max(b: &LexBound<'_>, m: &[u8]) -> bool {
        match *b {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m <= x,
            LexBound::Excl(x) => m < x,
        }
    }

    #[derive(Clone, Debug)]
    enum Bound {
        NegInf,
        PosInf,
        Incl(Vec<u8>),
        Excl(Vec<u8>),
    }

    impl Bound {
        fn as_lex(&self) -> LexBound<'_> {
            match self {
                Bound::NegInf => LexBound::NegInf,
                Bound::PosInf => LexBound::PosInf,
                Bound::Incl(m) => LexBound::Incl(m),
                Bound::Excl(m) => LexBound::Excl(m),
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Vec<u8>, f64),
        Remove(Vec<u8>),
        Score(Vec<u8>),
        Rank(Vec<u8>),
        GetByRank(usize),
        IterFrom(usize, usize),
        IterRev(usize, usize),
        ScoreRange(f64, bool, f64, bool),
        LexRange(Bound, Bound),
        RemoveRange(usize, usize),
        PopMin,
        PopMax,
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(vec![0u8, b'a', b'b', 0xff]), 0..4)
    }

    fn score() -> impl Strategy<Value = f64> {
        prop::sample::select(vec![
            f64::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1.0,
            2.0,
            3.0,
            f64::INFINITY,
        ])
    }

    fn bound() -> impl Strategy<Value = Bound> {
        prop_oneof![
            1 => Just(Bound::NegInf),
            1 => Just(Bound::PosInf),
            3 => member().prop_map(Bound::Incl),
            3 => member().prop_map(Bound::Excl),
        ]
    }

    fn op(equal_scores: bool) -> impl Strategy<Value = Op> {
        let sc = if equal_scores {
            Just(1.0).boxed()
        } else {
            score().boxed()
        };
        prop_oneof![
            8 => (member(), sc).prop_map(|(m, s)| Op::Insert(m, s)),
            3 => member().prop_map(Op::Remove),
            1 => member().prop_map(Op::Score),
            2 => member().prop_map(Op::Rank),
            2 => (0usize..70).prop_map(Op::GetByRank),
            1 => (0usize..70, 0usize..10).prop_map(|(a, b)| Op::IterFrom(a, b)),
            1 => (0usize..70, 0usize..10).prop_map(|(a, b)| Op::IterRev(a, b)),
            2 => (score(), any::<bool>(), score(), any::<bool>())
                .prop_map(|(a, b, c, d)| Op::ScoreRange(a, b, c, d)),
            2 => (bound(), bound()).prop_map(|(a, b)| Op::LexRange(a, b)),
            1 => (0usize..70, 0usize..70).prop_map(|(a, b)| Op::RemoveRange(a, b)),
            1 => Just(Op::PopMin),
            1 => Just(Op::PopMax),
        ]
    }

    fn run(ops: Vec<Op>) {
        let mut set = SortedSet::new();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Insert(m, s) => {
                    let got = set.insert(&m, s).map(f64::to_bits);
                    assert_eq!(got, model.insert(&m, s).map(f64::to_bits));
                }
                Op::Remove(m) => {
                    let got = set.remove(&m).map(f64::to_bits);
                    assert_eq!(got, model.remove(&m).map(f64::to_bits));
                }
                Op::Score(m) => {
                    assert_eq!(
                        set.score(&m).map(f64::to_bits),
                        model.map.get(&m).map(|s| s.to_bits())
                    );
                    assert_eq!(set.contains(&m), model.map.contains_key(&m));
                }
                Op::Rank(m) => assert_eq!(set.rank(&m), model.pos(&m)),
                Op::GetByRank(r) => {
                    let want = model.sorted.get(r).map(|(s, m)| (m.as_slice(), *s));
                    assert_eq!(set.get_by_rank(r), want);
                }
                Op::IterFrom(r, k) => {
                    let it = set.iter_from_rank(r);
                    assert_eq!(it.len(), model.sorted.len().saturating_sub(r));
                    let got: Vec<_> = it.take(k).collect();
                    let want: Vec<_> = model
                        .sorted
                        .iter()
                        .skip(r)
                        .take(k)
                        .map(|(s, m)| (m.as_slice(), *s))
                        .collect();
                    assert_eq!(got, want);
                }
                Op::IterRev(r, k) => {
                    let it = set.iter_rev_from_rank(r);
                    assert_eq!(it.len(), model.sorted.len().saturating_sub(r));
                    let got: Vec<_> = it.take(k).collect();
                    let want: Vec<_> = model
                        .sorted
                        .iter()
                        .rev()
                        .skip(r)
                        .take(k)
                        .map(|(s, m)| (m.as_slice(), *s))
                        .collect();
                    assert_eq!(got, want);
                }
                Op::ScoreRange(min, minex, max, maxex) => {
                    let below = model.count(|e| if minex { e.0 <= min } else { e.0 < min });
                    let le = model.count(|e| if maxex { e.0 < max } else { e.0 <= max });
                    assert_eq!(set.first_rank_in_score(min, minex), below);
                    assert_eq!(set.last_rank_in_score(max, maxex), le.checked_sub(1));
                    let inside = model.count(|e| {
                        (if minex { e.0 > min } else { e.0 >= min })
                            && (if maxex { e.0 < max } else { e.0 <= max })
                    });
                    assert_eq!(set.count_in_score(min, minex, max, maxex), inside);
                }
                Op::LexRange(lo, hi) => {
                    let all_equal = model.sorted.windows(2).all(|w| w[0].0 == w[1].0);
                    if all_equal {
                        let (lo, hi) = (lo.as_lex(), hi.as_lex());
                        let below = model.count(|e| lex_below_min(&lo, &e.1));
                        let le = model.count(|e| lex_le_max(&hi, &e.1));
                        assert_eq!(set.first_rank_in_lex(&lo), below);
                        assert_eq!(set.last_rank_in_lex(&hi), le.checked_sub(1));
                        let inside =
                            model.count(|e| !lex_below_min(&lo, &e.1) && lex_le_max(&hi, &e.1));
                        assert_eq!(set.count_in_lex(&lo, &hi), inside);
                    }
                }
                Op::RemoveRange(a, b) => {
                    let n = model.sorted.len();
                    let want = if a >= n || a > b {
                        0
                    } else {
                        b.min(n - 1) - a + 1
                    };
                    for _ in 0..want {
                        model.pop(a);
                    }
                    assert_eq!(set.remove_range_by_rank(a, b), want);
                }
                Op::PopMin => {
                    let want = (!model.sorted.is_empty()).then(|| model.pop(0));
                    assert_eq!(set.pop_min(), want);
                }
                Op::PopMax => {
                    let n = model.sorted.len();
                    let want = (n > 0).then(|| model.pop(n - 1));
                    assert_eq!(set.pop_max(), want);
                }
            }
            check_same(&set, &model);
        }
        // Clone is a deep, independent copy.
        let mut c = set.clone();
        c.check_invariants();
        assert!(c.iter().eq(set.iter()));
        c.insert(b"zz-clone-only", 0.5);
        assert!(!set.contains(b"zz-clone-only"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn zset_matches_model(ops in prop::collection::vec(op(false), 0..250)) {
            run(ops);
        }

        #[test]
        fn zset_matches_model_equal_scores(ops in prop::collection::vec(op(true), 0..250)) {
            run(ops);
        }
    }

    /// Small deterministic PRNG for the bulk tests.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    #[test]
    fn zset_basic() {
        let mut z = SortedSet::default();
        assert!(z.is_empty());
        assert_eq!(z.pop_min(), None);
        assert_eq!(z.pop_max(), None);
        assert_eq!(z.get_by_rank(0), None);
        assert_eq!(z.iter().count(), 0);
        assert_eq!(z.iter_rev_from_rank(0).count(), 0);
        assert_eq!(z.first_rank_in_score(0.0, false), 0);
        assert_eq!(z.last_rank_in_score(0.0, false), None);
        assert_eq!(z.remove_range_by_rank(0, 10), 0);

        assert_eq!(z.insert(b"b", 2.0), None);
        assert_eq!(z.insert(b"a", 1.0), None);
        assert_eq!(z.insert(b"c", 3.0), None);
        assert_eq!(z.insert(b"bb", 2.0), None);
        // Ties broken by member bytes.
        let all: Vec<_> = z.iter().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(all, [&b"a"[..], b"b", b"bb", b"c"]);
        assert_eq!(z.rank(b"bb"), Some(2));
        assert_eq!(z.rank(b"zz"), None);
        assert_eq!(z.get_by_rank(3), Some((&b"c"[..], 3.0)));
        // Score update moves the member.
        assert_eq!(z.insert(b"a", 10.0), Some(1.0));
        assert_eq!(z.rank(b"a"), Some(3));
        assert_eq!(z.score(b"a"), Some(10.0));
        // Update that keeps the position.
        assert_eq!(z.insert(b"c", 3.5), Some(3.0));
        assert_eq!(z.rank(b"c"), Some(2));
        // Equal score (-0.0 == 0.0) keeps the stored value, as Redis does.
        z.insert(b"zero", 0.0);
        assert_eq!(z.insert(b"zero", -0.0), Some(0.0));
        assert!(z.score(b"zero").unwrap().is_sign_positive());
        z.check_invariants();

        let rev: Vec<_> = z.iter_rev_from_rank(1).map(|(m, _)| m.to_vec()).collect();
        assert_eq!(rev, [&b"c"[..], b"bb", b"b", b"zero"]);
        assert_eq!(z.count_in_score(2.0, false, 3.5, true), 2);
        assert_eq!(z.count_in_score(3.0, false, 2.0, false), 0);
        assert_eq!(z.first_rank_in_score(f64::NEG_INFINITY, false), 0);
        assert_eq!(z.first_rank_in_score(f64::INFINITY, true), z.len());
        assert_eq!(
            z.last_rank_in_score(f64::INFINITY, false),
            Some(z.len() - 1)
        );

        assert_eq!(z.pop_min(), Some((b"zero".to_vec(), 0.0)));
        assert_eq!(z.pop_max(), Some((b"a".to_vec(), 10.0)));
        assert_eq!(z.remove(b"b"), Some(2.0));
        assert_eq!(z.remove(b"b"), None);
        assert_eq!(z.len(), 2);
        z.check_invariants();
        assert_eq!(format!("{z:?}"), r#"[("bb", 2.0), ("c", 3.5)]"#);

        // Empty member and binary members are fine.
        z.insert(b"", 2.0);
        z.insert(b"\xff\x00", 2.0);
        assert_eq!(z.rank(b""), Some(0));
        assert_eq!(z.rank(b"\xff\x00"), Some(2));
        z.check_invariants();
    }

    #[test]
    fn zset_lex() {
        let mut z = SortedSet::new();
        for m in ["a", "b", "c", "d", "e", "f", "g"] {
            z.insert(m.as_bytes(), 0.0);
        }
        let r = |lo: LexBound<'_>, hi: LexBound<'_>| {
            let first = z.first_rank_in_lex(&lo);
            let last = z.last_rank_in_lex(&hi);
            let got: Vec<String> = match last {
                Some(last) if last >= first => z
                    .iter_from_rank(first)
                    .take(last - first + 1)
                    .map(|(m, _)| String::from_utf8(m.to_vec()).unwrap())
                    .collect(),
                _ => vec![],
            };
            assert_eq!(got.len(), z.count_in_lex(&lo, &hi));
            got.concat()
        };
        assert_eq!(r(LexBound::NegInf, LexBound::Incl(b"c")), "abc");
        assert_eq!(r(LexBound::NegInf, LexBound::Excl(b"c")), "ab");
        assert_eq!(r(LexBound::Incl(b"aaa"), LexBound::Excl(b"g")), "bcdef");
        assert_eq!(r(LexBound::Excl(b"b"), LexBound::PosInf), "cdefg");
        assert_eq!(r(LexBound::PosInf, LexBound::PosInf), "");
        assert_eq!(r(LexBound::NegInf, LexBound::NegInf), "");
        assert_eq!(r(LexBound::Incl(b"e"), LexBound::Incl(b"b")), "");
    }

    #[test]
    fn zset_bulk_insert_update_remove() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        let mut z = SortedSet::new();
        let mut model = Model::default();
        let n = 4000u64;
        for i in 0..n {
            let m = format!("m{}", rng.next() % n);
            let s = (rng.next() % 50) as f64;
            assert_eq!(
                z.insert(m.as_bytes(), s),
                model.insert(m.as_bytes(), s),
                "{i}"
            );
            if i % 500 == 0 {
                check_same(&z, &model);
            }
        }
        check_same(&z, &model);
        assert!(z.level > 3, "towers should have grown (level {})", z.level);
        for (r, (s, m)) in model.sorted.iter().enumerate() {
            assert_eq!(z.rank(m), Some(r));
            assert_eq!(z.get_by_rank(r), Some((m.as_slice(), *s)));
        }
        // Random removals, including ranges, down to empty.
        let mut i = 0;
        while !model.sorted.is_empty() {
            i += 1;
            let len = model.sorted.len();
            match rng.next() % 4 {
                0 => {
                    let a = (rng.next() as usize) % len;
                    let b = a + (rng.next() as usize) % 20;
                    let want = b.min(len - 1) - a + 1;
                    for _ in 0..want {
                        model.pop(a);
                    }
                    assert_eq!(z.remove_range_by_rank(a, b), want);
                }
                1 => assert_eq!(z.pop_max(), Some(model.pop(len - 1))),
                _ => {
                    let r = (rng.next() as usize) % len;
                    let m = model.sorted[r].1.clone();
                    assert_eq!(z.remove(&m), model.remove(&m));
                }
            }
            if i % 200 == 0 {
                check_same(&z, &model);
            }
        }
        check_same(&z, &model);
        assert_eq!(z.level, 1);
        // The arena slots are reused.
        let slots = z.nodes.len();
        for i in 0..100 {
            z.insert(format!("again{i}").as_bytes(), i as f64);
        }
        assert_eq!(z.nodes.len(), slots);
        z.check_invariants();
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn zset_node_is_compact() {
        assert_eq!(std::mem::size_of::<Node>(), 48);
        assert_eq!(std::mem::size_of::<Link>(), 20);
        // A tower takes `height - 1` links, reused by the next node of that
        // height once freed.
        let mut z = SortedSet::new();
        let tall = (0..)
            .map(|i| format!("m{i}"))
            .find(|m| {
                z.insert(m.as_bytes(), 1.0);
                z.node(z.find(m.as_bytes()).unwrap()).height() > 1
            })
            .unwrap();
        let height = z.node(z.find(tall.as_bytes()).unwrap()).height();
        let links = z.links.len();
        assert_eq!(links, MAX_LEVEL - 1 + height - 1);
        z.remove(tall.as_bytes());
        z.check_invariants();
        assert_eq!(z.alloc_tower(height), (MAX_LEVEL - 1) as u32);
        assert_eq!(z.links.len(), links);
    }

    #[test]
    fn zset_level_distribution() {
        let mut z = SortedSet::new();
        let n = 100_000;
        let mut hist = [0usize; MAX_LEVEL + 1];
        for _ in 0..n {
            hist[z.random_level()] += 1;
        }
        // P(level >= k) = 0.25^(k-1).
        let ge = |k: usize| hist[k..].iter().sum::<usize>() as f64 / n as f64;
        assert!((ge(2) - 0.25).abs() < 0.01, "{}", ge(2));
        assert!((ge(3) - 0.0625).abs() < 0.005, "{}", ge(3));
        assert_eq!(hist[0], 0);
    }

    #[test]
    #[ignore = "slow in debug builds; run with --ignored (or --release)"]
    fn zset_million_members() {
        let start = std::time::Instant::now();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut z = SortedSet::new();
        let n = 1_000_000;
        for i in 0..n {
            let s = (rng.next() % 1_000_000_000) as f64 / 1000.0;
            z.insert(format!("member:{i}").as_bytes(), s);
        }
        let built = start.elapsed();
        assert_eq!(z.len(), n);
        let mut prev = f64::NEG_INFINITY;
        for (_, s) in z.iter() {
            assert!(s >= prev);
            prev = s;
        }
        for r in [0, 1, n / 2, n - 1] {
            let (m, _) = z.get_by_rank(r).unwrap();
            let m = m.to_vec();
            assert_eq!(z.rank(&m), Some(r));
        }
        println!(
            "1M members built in {built:?} (total {:?}); mem_bytes = {} ({:.1} bytes/member)",
            start.elapsed(),
            z.mem_bytes(),
            z.mem_bytes() as f64 / n as f64
        );
    }
}
