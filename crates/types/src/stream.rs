//! Streams: an append-only log of field/value entries keyed by 128-bit ids,
//! with consumer groups.
//!
//! # Storage
//!
//! Entries are not one heap object each. As in Redis, they are packed into
//! *nodes* of up to `stream-node-max-entries` entries / `stream-node-max-bytes`
//! bytes, kept in an ordered map keyed by the node's *master id* (the id of
//! its first entry). A node remembers the field names of its first entry
//! (the "master fields"); every later entry with the same field names stores
//! only its values. Ids are stored as deltas from the master id. Deleting an
//! entry only sets a flag in its header; a node whose entries are all
//! deleted is dropped.
//!
//! ```text
//! entry: flags(u8) | ms-delta(varint) | seq-delta(zigzag varint)
//!        | [nfields(varint) | (len field)*]   -- only without SAMEFIELDS
//!        | (len value)*
//! ```
//!
//! When to start a new node follows Redis exactly (it decides which entries
//! an approximate `MAXLEN ~` trim can drop, which users and tests observe),
//! so each node also tracks the size the equivalent Redis listpack would
//! have.
//!
//! # Consumer groups
//!
//! A [`Group`] has a last-delivered id, a logical read counter (used for the
//! lag that XINFO reports), a pending entries list (PEL) and its consumers,
//! each with the ids pending for it.

use std::collections::{BTreeMap, BTreeSet};

/// A stream entry id: milliseconds and a sequence number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next id, or None after the largest one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous id, or None before the smallest one.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Parses `ms[-seq]` (decimal, unsigned). Returns the ms part and the
    /// sequence when one was given, or None if malformed; a sequence of `*`
    /// is reported as `Seq::Auto`.
    pub fn parse_parts(s: &[u8]) -> Option<(u64, Seq)> {
        let (ms, seq) = match s.iter().position(|&c| c == b'-') {
            Some(dash) => (&s[..dash], Some(&s[dash + 1..])),
            None => (s, None),
        };
        let ms = parse_u64(ms)?;
        let seq = match seq {
            None => Seq::Missing,
            Some(b"*") => Seq::Auto,
            Some(seq) => Seq::Given(parse_u64(seq)?),
        };
        Some((ms, seq))
    }

    /// Appends the `ms-seq` text of this id.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        self.write_to(&mut v);
        v
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The sequence part of a parsed id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seq {
    Missing,
    Auto,
    Given(u64),
}

/// Redis's string2ull: a canonical non-negative decimal, or else whatever C's
/// `strtoull` takes whole (leading white space, a `+` sign, leading zeros;
/// even a `-` sign, which wraps around), out-of-range values refused.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(v) = canonical_i64(s) {
        return u64::try_from(v).ok();
    }
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    let mut rest = &s[start..];
    let negative = match rest.first() {
        Some(b'-') => true,
        Some(b'+') => false,
        _ => {
            return parse_digits(rest);
        }
    };
    rest = &rest[1..];
    let v = parse_digits(rest)?;
    Some(if negative { v.wrapping_neg() } else { v })
}

/// One or more decimal digits and nothing else, within u64.
fn parse_digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;

/// Node limits (`stream-node-max-bytes`, `stream-node-max-entries`; 0 means
/// no limit on that measure).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Redis caps a listpack (and so a node, and one entry) at 1 GiB.
pub const MAX_NODE_BYTES: usize = 1 << 30;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint written by [`put_varint`]. Node bytes are only ever
/// written by this module, so they are well formed.
fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + n];
    *pos += n;
    s
}

/// Size of one element in a Redis listpack holding `s` (integers that
/// round-trip are stored in integer encodings), including its back-length.
fn lp_element_size(s: &[u8]) -> usize {
    let enc = match canonical_i64(s) {
        Some(v) => lp_int_size(v),
        None if s.len() < 64 => 1 + s.len(),
        None if s.len() < 4096 => 2 + s.len(),
        None => 5 + s.len(),
    };
    enc + lp_backlen_size(enc)
}

fn lp_int_element_size(v: i64) -> usize {
    let enc = lp_int_size(v);
    enc + lp_backlen_size(enc)
}

fn lp_int_size(v: i64) -> usize {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    }
}

fn lp_backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    }
}

fn canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    let mut b = itoa::Buffer::new();
    (b.format(v).as_bytes() == s).then_some(v)
}

/// One node: up to `max_entries` entries packed in one buffer.
#[derive(Clone, Debug)]
struct Node {
    /// Field names of the node's first entry, `len bytes` each.
    master_fields: Box<[u8]>,
    master_count: u32,
    entries: Vec<u8>,
    live: u32,
    deleted: u32,
    /// The size of Redis's equivalent listpack, minus its counters.
    lp_bytes: usize,
}

impl Node {
    fn new(fields: &[&[u8]]) -> Node {
        let mut master = Vec::new();
        // Header (6) and end byte (1), the master field count, and the
        // master entry's terminating 0 (an integer element of 2 bytes).
        let mut lp_bytes = 7 + lp_int_element_size(fields.len() as i64) + lp_int_element_size(0);
        for f in fields {
            put_bytes(&mut master, f);
            lp_bytes += lp_element_size(f);
        }
        Node {
            master_fields: master.into_boxed_slice(),
            master_count: fields.len() as u32,
            entries: Vec::new(),
            live: 0,
            deleted: 0,
            lp_bytes,
        }
    }

    /// Redis's lpBytes for this node.
    fn redis_bytes(&self) -> usize {
        self.lp_bytes
            + lp_int_element_size(self.live as i64)
            + lp_int_element_size(self.deleted as i64)
    }

    fn same_fields(&self, pairs: &[(&[u8], &[u8])]) -> bool {
        if pairs.len() != self.master_count as usize {
            return false;
        }
        let mut pos = 0;
        pairs
            .iter()
            .all(|(f, _)| get_bytes(&self.master_fields, &mut pos) == *f)
    }

    fn append(&mut self, master: StreamId, id: StreamId, pairs: &[(&[u8], &[u8])]) {
        let same = self.same_fields(pairs);
        let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
        let e = &mut self.entries;
        e.push(if same { FLAG_SAMEFIELDS } else { 0 });
        put_varint(e, id.ms - master.ms);
        put_varint(e, ((seq_delta << 1) ^ (seq_delta >> 63)) as u64);
        // Redis: flags, ms-delta, seq-delta, [nfields, fields], values, lp-count.
        let mut lp = lp_int_element_size(0)
            + lp_int_element_size((id.ms - master.ms) as i64)
            + lp_int_element_size(seq_delta);
        let mut lp_count = pairs.len() + 3;
        if !same {
            put_varint(e, pairs.len() as u64);
            lp += lp_int_element_size(pairs.len() as i64);
            lp_count += pairs.len() + 1;
        }
        for (f, v) in pairs {
            if !same {
                put_bytes(e, f);
                lp += lp_element_size(f);
            }
            put_bytes(e, v);
            lp += lp_element_size(v);
        }
        lp += lp_int_element_size(lp_count as i64);
        self.lp_bytes += lp;
        self.live += 1;
    }

    /// The entry starting at `pos` (its flags byte); advances `pos` past it.
    fn decode<'a>(&'a self, master: StreamId, pos: &mut usize) -> EntryRef<'a> {
        let e = &self.entries;
        let at = *pos;
        let flags = e[*pos];
        *pos += 1;
        let ms = master.ms + get_varint(e, pos);
        let z = get_varint(e, pos);
        let seq_delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let seq = master.seq.wrapping_add(seq_delta as u64);
        let same = flags & FLAG_SAMEFIELDS != 0;
        let nfields = if same {
            self.master_count as usize
        } else {
            get_varint(e, pos) as usize
        };
        let body_start = *pos;
        for _ in 0..nfields {
            if !same {
                get_bytes(e, pos);
            }
            get_bytes(e, pos);
        }
        EntryRef {
            id: StreamId::new(ms, seq),
            deleted: flags & FLAG_DELETED != 0,
            at,
            nfields,
            body: &e[body_start..*pos],
            master: if same {
                Some(&self.master_fields)
            } else {
                None
            },
        }
    }

    fn iter(&self, master: StreamId) -> NodeIter<'_> {
        NodeIter {
            node: self,
            master,
            pos: 0,
        }
    }

    fn offsets(&self, master: StreamId) -> Vec<u32> {
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        let mut pos = 0;
        while pos < self.entries.len() {
            out.push(pos as u32);
            self.decode(master, &mut pos);
        }
        out
    }

    fn mark_deleted(&mut self, at: usize) {
        self.entries[at] |= FLAG_DELETED;
        self.live -= 1;
        self.deleted += 1;
    }
}

struct NodeIter<'a> {
    node: &'a Node,
    master: StreamId,
    pos: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = EntryRef<'a>;
    fn next(&mut self) -> Option<EntryRef<'a>> {
        (self.pos < self.node.entries.len()).then(|| self.node.decode(self.master, &mut self.pos))
    }
}

/// One entry as stored (possibly deleted), borrowed from its node.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    pub id: StreamId,
    deleted: bool,
    at: usize,
    nfields: usize,
    body: &'a [u8],
    master: Option<&'a [u8]>,
}

impl<'a> EntryRef<'a> {
    pub fn field_count(&self) -> usize {
        self.nfields
    }

    /// Whether this is a deleted entry kept in its node (only
    /// [`NodeView::entries`] yields those).
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// The entry's (field, value) pairs in insertion order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let (body, master) = (self.body, self.master);
        let (mut pos, mut mpos) = (0usize, 0usize);
        (0..self.nfields).map(move |_| {
            let f = match master {
                Some(m) => get_bytes(m, &mut mpos),
                None => get_bytes(body, &mut pos),
            };
            (f, get_bytes(body, &mut pos))
        })
    }
}

/// One node as stored, deleted entries included: what a snapshot (RDB)
/// writes so that node boundaries, and so approximate trims, survive it.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    /// The node's key: the id of its first entry, live or deleted.
    pub master: StreamId,
    node: &'a Node,
}

impl<'a> NodeView<'a> {
    /// The master field names (the fields of the node's first entry).
    pub fn master_fields(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let m: &'a [u8] = &self.node.master_fields;
        let mut pos = 0;
        (0..self.node.master_count).map(move |_| get_bytes(m, &mut pos))
    }

    /// Live entries in the node.
    pub fn live(&self) -> u32 {
        self.node.live
    }

    /// Deleted entries still in the node.
    pub fn deleted(&self) -> u32 {
        self.node.deleted
    }

    /// Every entry in id order, deleted ones included.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'a>> + 'a {
        self.node.iter(self.master)
    }
}

/// An entry to rebuild a node with ([`Stream::load_node`]).
#[derive(Clone, Debug)]
pub struct LoadedEntry<'a> {
    pub id: StreamId,
    pub deleted: bool,
    pub pairs: Vec<(&'a [u8], &'a [u8])>,
}

/// How XADD / XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// The value of SCG entries_read when the group's read counter is unknown.
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A pending (delivered, not acknowledged) entry of a group.
#[derive(Clone, Debug)]
pub struct Pending {
    pub delivery_time: u64,
    pub delivery_count: u64,
    pub consumer: Box<[u8]>,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default)]
pub struct Consumer {
    /// Last time it was seen (any interaction), ms.
    pub seen_time: u64,
    /// Last time it read or claimed something successfully, ms; -1 = never.
    pub active_time: i64,
    pub pel: BTreeSet<StreamId>,
}

impl Consumer {
    pub fn new(now_ms: u64) -> Self {
        Consumer {
            seen_time: now_ms,
            active_time: -1,
            pel: BTreeSet::new(),
        }
    }
}

/// A consumer group.
#[derive(Clone, Debug)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Self {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer `name`, created if missing (returns whether it was).
    pub fn consumer(&mut self, name: &[u8], now_ms: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        if created {
            self.consumers.insert(name.into(), Consumer::new(now_ms));
        }
        let c = self.consumers.get_mut(name).expect("inserted above");
        (c, created)
    }

    /// Acknowledges `id`: removes it from the PEL and its consumer's.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Records delivery of `id` to `consumer` (new PEL entry or a
    /// reassignment of an existing one).
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now_ms: u64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if *old.consumer != *consumer {
                let owner = old.consumer.clone();
                if let Some(c) = self.consumers.get_mut(&owner) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(
            id,
            Pending {
                delivery_time: now_ms,
                delivery_count: count,
                consumer: consumer.into(),
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    pub fn new() -> Self {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Radix-tree nodes in Redis terms (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Heap bytes used (an estimate for MEMORY USAGE and eviction).
    pub fn mem_bytes(&self) -> usize {
        let nodes: usize = self
            .nodes
            .values()
            .map(|n| 64 + n.master_fields.len() + n.entries.capacity())
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(k, g)| {
                96 + k.len()
                    + g.pel.values().map(|p| 64 + p.consumer.len()).sum::<usize>()
                    + g.consumers
                        .iter()
                        .map(|(n, c)| 64 + n.len() + 32 * c.pel.len())
                        .sum::<usize>()
            })
            .sum();
        nodes + groups
    }

    /// The id XADD `*` would give now: time-based, never going backwards.
    /// None when the stream's last id is the largest possible.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry with id `id`, which the caller checked is greater
    /// than `last_id`.
    pub fn append(&mut self, id: StreamId, pairs: &[(&[u8], &[u8])], limits: NodeLimits) {
        let total: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
        let max_bytes = match limits.max_bytes {
            0 => MAX_NODE_BYTES,
            n => n.min(MAX_NODE_BYTES),
        };
        let need_new = match self.nodes.iter_mut().next_back() {
            None => true,
            Some((_, tail)) => {
                let full = tail.redis_bytes() + total >= max_bytes
                    || (limits.max_entries > 0
                        && (tail.live + tail.deleted) as usize >= limits.max_entries);
                if full {
                    tail.entries.shrink_to_fit();
                }
                full
            }
        };
        if need_new {
            let fields: Vec<&[u8]> = pairs.iter().map(|(f, _)| *f).collect();
            self.nodes.insert(id, Node::new(&fields));
        }
        let (master, tail) = self
            .nodes
            .iter_mut()
            .next_back()
            .expect("a tail node exists");
        tail.append(*master, id, pairs);
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// Live entries with ids in `start..=end`, ascending or descending.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = EntryRef<'_>> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        if !rev {
            let first = self
                .nodes
                .range(..=start)
                .next_back()
                .map_or(start, |(k, _)| *k);
            Box::new(
                self.nodes
                    .range(first..=end)
                    .flat_map(|(k, n)| n.iter(*k))
                    .filter(move |e| !e.deleted && e.id >= start)
                    .take_while(move |e| e.id <= end),
            )
        } else {
            Box::new(
                self.nodes
                    .range(..=end)
                    .rev()
                    .flat_map(|(k, n)| {
                        let master = *k;
                        n.offsets(master).into_iter().rev().map(move |at| {
                            let mut pos = at as usize;
                            n.decode(master, &mut pos)
                        })
                    })
                    .filter(move |e| !e.deleted && e.id <= end)
                    .take_while(move |e| e.id >= start),
            )
        }
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, false).next()
    }

    /// The first (or last) live entry.
    pub fn edge(&self, last: bool) -> Option<EntryRef<'_>> {
        self.range(StreamId::MIN, StreamId::MAX, last).next()
    }

    /// Deletes entry `id`; false if it is not there.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let mut pos = 0;
        let mut found = None;
        while pos < node.entries.len() {
            let e = node.decode(master, &mut pos);
            if e.id == id {
                if !e.deleted {
                    found = Some(e.at);
                }
                break;
            }
            if e.id > id {
                break;
            }
        }
        let Some(at) = found else {
            return false;
        };
        node.mark_deleted(at);
        if node.live == 0 {
            self.nodes.remove(&master);
        }
        self.length -= 1;
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.edge(false).map_or(StreamId::MIN, |e| e.id);
        }
        true
    }

    /// Trims like Redis's streamTrim: whole nodes first; with `approx` only
    /// whole nodes; `limit` (0 = none) caps the entries removed. Returns the
    /// number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.iter_mut().next() else {
                break;
            };
            let live = node.live as u64;
            if limit > 0 && removed + live > limit {
                break;
            }
            let whole = match how {
                Trim::MaxLen(max) => self.length - live >= max,
                Trim::MinId(min) => {
                    let last = node.iter(master).last().map_or(master, |e| e.id);
                    last < min
                }
            };
            if whole {
                self.nodes.remove(&master);
                self.length -= live;
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries deleted from the front of this node until the
            // condition holds; the next node then needs nothing.
            let mut pos = 0;
            let mut marks = Vec::new();
            while pos < node.entries.len() {
                let e = node.decode(master, &mut pos);
                let stop = match how {
                    Trim::MaxLen(max) => self.length - marks.len() as u64 <= max,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted {
                    marks.push(e.at);
                }
            }
            for at in &marks {
                node.mark_deleted(*at);
            }
            self.length -= marks.len() as u64;
            removed += marks.len() as u64;
            // A node left with no live entries stays (Redis keeps it: a
            // MINID trim can stop at a deleted entry past the minimum); it
            // still counts toward node limits, and a later trim drops it.
            break;
        }
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.edge(false).map_or(StreamId::MIN, |e| e.id)
        };
        removed
    }

    /// Whether a deleted entry may lie in `start..=end` (Redis's
    /// streamRangeHasTombstones).
    pub fn has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        // The latest tombstone lies before the first entry: trimmed away.
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical read counter of `id` (how many entries were added up to
    /// it), when it can be known; Redis's
    /// streamEstimateDistanceFromFirstEverEntry.
    pub fn estimate_entries_read(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        }
        if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            }
            if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag (entries not yet read), when it can be known.
    ///
    /// This and the read-counter helpers follow Redis 7.0/7.2 (the real
    /// server the differential tests run against); Redis 7.4 later revised
    /// the estimate around trims and tombstones.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ && !self.has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_entries_read(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    /// Advances group `name`'s last id to `id` after delivering it, keeping
    /// its read counter as Redis does.
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) {
        let tomb = self.has_tombstones(id, StreamId::MAX);
        let estimate = self.estimate_entries_read(id);
        let added = self.entries_added;
        if let Some(g) = self.groups.get_mut(name) {
            if id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ && !tomb {
                    g.entries_read += 1;
                } else if added > 0 {
                    g.entries_read = estimate;
                }
                g.last_id = id;
            }
        }
    }

    /// Every node in id order, with its deleted entries (for snapshots).
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_>> + '_ {
        self.nodes.iter().map(|(master, node)| NodeView {
            master: *master,
            node,
        })
    }

    /// Rebuilds one node from a snapshot: `master_fields` and `entries`
    /// (the first one's id is the node's key) as stored, deleted entries
    /// included, without applying node limits. Live entries count toward
    /// [`Stream::len`]; the caller sets `last_id`, `first_id`,
    /// `max_deleted_id` and `entries_added` from the snapshot afterwards.
    ///
    /// Refuses (returns false, changing nothing) an empty node, or ids that
    /// do not strictly ascend after every id already stored.
    pub fn load_node(&mut self, master_fields: &[&[u8]], entries: &[LoadedEntry<'_>]) -> bool {
        let Some(first) = entries.first() else {
            return false;
        };
        if let Some((&last_master, last_node)) = self.nodes.iter().next_back() {
            let last = last_node
                .iter(last_master)
                .last()
                .map_or(last_master, |e| e.id);
            if first.id <= last {
                return false;
            }
        }
        if entries.windows(2).any(|w| w[0].id >= w[1].id) {
            return false;
        }
        let master = first.id;
        let mut node = Node::new(master_fields);
        for e in entries {
            let at = node.entries.len();
            node.append(master, e.id, &e.pairs);
            if e.deleted {
                node.mark_deleted(at);
            }
        }
        self.length += u64::from(node.live);
        self.nodes.insert(master, node);
        true
    }

    /// Iterates over nodes as (master id, live entries, deleted entries) —
    /// for XINFO and tests.
    pub fn node_stats(&self) -> impl Iterator<Item = (StreamId, u32, u32)> + '_ {
        self.nodes.iter().map(|(k, n)| (*k, n.live, n.deleted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn pairs(e: &EntryRef) -> Pairs {
        e.pairs().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn id_parse_and_order() {
        assert_eq!(StreamId::parse_parts(b"5-3"), Some((5, Seq::Given(3))));
        assert_eq!(StreamId::parse_parts(b"5"), Some((5, Seq::Missing)));
        assert_eq!(StreamId::parse_parts(b"5-*"), Some((5, Seq::Auto)));
        assert!(StreamId::parse_parts(b"-5").is_none());
        assert!(StreamId::parse_parts(b"5-").is_none());
        assert!(StreamId::parse_parts(b"18446744073709551616").is_none());
        // strtoull's leniency, which Redis inherits.
        assert_eq!(StreamId::parse_parts(b" +7-\t08"), Some((7, Seq::Given(8))));
        assert_eq!(
            StreamId::parse_parts(b"1- -1"),
            Some((1, Seq::Given(u64::MAX)))
        );
        assert_eq!(
            StreamId::parse_parts(b"1--05"),
            Some((1, Seq::Given(u64::MAX - 4)))
        );
        assert!(StreamId::parse_parts(b"1--5").is_none());
        assert!(StreamId::parse_parts(b" ").is_none());
        assert!(StreamId::parse_parts(b"").is_none());
        assert!(StreamId::parse_parts(b"5x").is_none());
        assert!(StreamId::parse_parts(b"+").is_none());
        assert!(StreamId::parse_parts(b"0x10").is_none());
        assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::new(7, 1).to_bytes(), b"7-1");
    }

    /// Random ids, many at the edges of the range: the text round-trips,
    /// the order is that of (ms, seq) as numbers (the 128-bit value
    /// ms * 2^64 + seq), and incr/decr step by one in that order.
    #[test]
    fn id_properties_hold_for_random_ids() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let part = |rng: &mut rand::rngs::StdRng| match rng.gen_range(0..4) {
            0 => rng.gen_range(0..3),
            1 => u64::MAX - rng.gen_range(0..3),
            _ => rng.gen(),
        };
        let wide = |id: StreamId| (id.ms as u128) << 64 | id.seq as u128;
        for _ in 0..20_000 {
            let a = StreamId::new(part(&mut rng), part(&mut rng));
            let b = StreamId::new(part(&mut rng), part(&mut rng));
            assert_eq!(
                StreamId::parse_parts(&a.to_bytes()),
                Some((a.ms, Seq::Given(a.seq)))
            );
            assert_eq!(a.cmp(&b), wide(a).cmp(&wide(b)), "{a} vs {b}");
            match a.incr() {
                Some(n) => {
                    assert_eq!(wide(n), wide(a) + 1);
                    assert_eq!(n.decr(), Some(a));
                }
                None => assert_eq!(a, StreamId::MAX),
            }
            match a.decr() {
                Some(p) => assert_eq!(wide(p) + 1, wide(a)),
                None => assert_eq!(a, StreamId::MIN),
            }
        }
    }

    /// Random appends, deletes and trims against a BTreeMap model.
    #[test]
    fn matches_a_simple_model() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..40 {
            let limits = NodeLimits {
                max_bytes: [0, 64, 4096][round % 3],
                max_entries: [0, 3, 100][(round / 3) % 3],
            };
            let mut s = Stream::new();
            let mut model: BTreeMap<StreamId, Pairs> = BTreeMap::new();
            let mut next = StreamId::new(rng.gen_range(0..5), rng.gen_range(0..5));
            for _ in 0..300 {
                match rng.gen_range(0..10) {
                    0..=5 => {
                        let n = rng.gen_range(1..4);
                        let p: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
                            .map(|i| {
                                let f = if rng.gen_bool(0.7) {
                                    format!("f{i}")
                                } else {
                                    format!("g{}", rng.gen::<u8>())
                                };
                                (f.into_bytes(), rng.gen::<u32>().to_string().into_bytes())
                            })
                            .collect();
                        let refs: Vec<(&[u8], &[u8])> =
                            p.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                        s.append(next, &refs, limits);
                        model.insert(next, p);
                        next = if rng.gen_bool(0.5) {
                            StreamId::new(next.ms + rng.gen_range(1..3), rng.gen_range(0..3))
                        } else {
                            next.incr().unwrap()
                        };
                    }
                    6 | 7 => {
                        if let Some(&id) = model.keys().nth(rng.gen_range(0..model.len().max(1))) {
                            assert!(s.delete(id));
                            model.remove(&id);
                            assert!(!s.delete(id));
                        }
                    }
                    8 => {
                        let max = rng.gen_range(0..20u64);
                        let approx = rng.gen_bool(0.3);
                        let before = s.len();
                        let removed = s.trim(Trim::MaxLen(max), approx, 0);
                        assert_eq!(before - removed, s.len());
                        if !approx {
                            assert!(s.len() <= max);
                        }
                        while model.len() as u64 > s.len() {
                            let k = *model.keys().next().unwrap();
                            model.remove(&k);
                        }
                    }
                    _ => {
                        let min = StreamId::new(rng.gen_range(0..next.ms + 1), rng.gen_range(0..3));
                        s.trim(Trim::MinId(min), false, 0);
                        model.retain(|k, _| *k >= min);
                    }
                }
                assert_eq!(s.len(), model.len() as u64);
                let got: Vec<_> = s
                    .range(StreamId::MIN, StreamId::MAX, false)
                    .map(|e| (e.id, pairs(&e)))
                    .collect();
                let want: Vec<_> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
                assert_eq!(got, want);
                let mut rev: Vec<_> = s
                    .range(StreamId::MIN, StreamId::MAX, true)
                    .map(|e| e.id)
                    .collect();
                rev.reverse();
                assert_eq!(rev, model.keys().copied().collect::<Vec<_>>());
                assert_eq!(s.first_id, model.keys().next().copied().unwrap_or_default());
                // A random sub-range both ways.
                if let (Some(a), Some(b)) = (model.keys().next(), model.keys().next_back()) {
                    let lo = StreamId::new(rng.gen_range(a.ms..=b.ms), rng.gen_range(0..3));
                    let hi = StreamId::new(rng.gen_range(lo.ms..=b.ms + 1), rng.gen_range(0..3));
                    let got: Vec<_> = s.range(lo, hi, false).map(|e| e.id).collect();
                    let want: Vec<_> = model
                        .range(lo..=hi.max(lo))
                        .map(|(k, _)| *k)
                        .filter(|k| *k <= hi)
                        .collect();
                    assert_eq!(got, want);
                    let mut got: Vec<_> = s.range(lo, hi, true).map(|e| e.id).collect();
                    got.reverse();
                    assert_eq!(got, want);
                }
            }
        }
    }

    #[test]
    fn nodes_split_like_redis() {
        // 100 entries per node by default: 1000 small entries make 10 nodes
        // and MAXLEN ~ 555 keeps 600 (whole nodes only).
        let mut s = Stream::new();
        for i in 0..1000u64 {
            s.append(
                StreamId::new(1, i),
                &[(b"xitem", i.to_string().as_bytes())],
                NodeLimits::default(),
            );
        }
        assert_eq!(s.node_count(), 10);
        s.trim(Trim::MaxLen(555), true, 0);
        assert_eq!(s.len(), 600);
        s.trim(Trim::MaxLen(555), false, 0);
        assert_eq!(s.len(), 555);
    }

    #[test]
    fn read_counter_estimates() {
        let mut s = Stream::new();
        assert_eq!(s.estimate_entries_read(StreamId::new(5, 0)), 0);
        for i in 1..=5 {
            s.append(StreamId::new(i, 0), &[(b"f", b"v")], NodeLimits::default());
        }
        assert_eq!(s.estimate_entries_read(StreamId::new(5, 0)), 5);
        assert_eq!(s.estimate_entries_read(StreamId::new(1, 0)), 1);
        assert_eq!(s.estimate_entries_read(StreamId::MIN), 0);
        assert_eq!(
            s.estimate_entries_read(StreamId::new(3, 0)),
            INVALID_ENTRIES_READ
        );
        s.delete(StreamId::new(3, 0));
        assert!(s.has_tombstones(StreamId::MIN, StreamId::MAX));
        assert_eq!(
            s.estimate_entries_read(StreamId::new(1, 0)),
            INVALID_ENTRIES_READ
        );
        assert_eq!(s.max_deleted_id, StreamId::new(3, 0));
    }

    /// Redis's listpack size of a node, recomputed from its decoded
    /// entries (the node keeps it incrementally).
    fn listpack_size(node: &Node, master: StreamId) -> usize {
        let mut size = 7
            + lp_int_element_size(node.live as i64)
            + lp_int_element_size(node.deleted as i64)
            + lp_int_element_size(node.master_count as i64)
            + lp_int_element_size(0);
        let mut pos = 0;
        for _ in 0..node.master_count {
            size += lp_element_size(get_bytes(&node.master_fields, &mut pos));
        }
        for e in node.iter(master) {
            let same = e.master.is_some();
            size += lp_int_element_size(0)
                + lp_int_element_size((e.id.ms - master.ms) as i64)
                + lp_int_element_size(e.id.seq.wrapping_sub(master.seq) as i64);
            let mut count = 3 + e.nfields;
            if !same {
                size += lp_int_element_size(e.nfields as i64);
                count += e.nfields + 1;
            }
            for (f, v) in e.pairs() {
                if !same {
                    size += lp_element_size(f);
                }
                size += lp_element_size(v);
            }
            size += lp_int_element_size(count as i64);
        }
        size
    }

    /// Random appends, deletes and trims: every node's live/deleted counts
    /// match its entries and its tracked listpack size matches a
    /// recomputation from them.
    #[test]
    fn node_accounting_stays_exact() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for round in 0..30 {
            let limits = NodeLimits {
                max_bytes: [0, 40, 200, 4096][round % 4],
                max_entries: [0, 2, 5, 100][(round / 4) % 4],
            };
            let mut s = Stream::new();
            let mut next = StreamId::new(1, 0);
            for _ in 0..250 {
                match rng.gen_range(0..10) {
                    0..=5 => {
                        let values: Vec<Vec<u8>> = (0..rng.gen_range(1..4))
                            .map(|_| match rng.gen_range(0..4) {
                                0 => rng.gen::<i64>().to_string().into_bytes(),
                                1 => rng.gen_range(0..200).to_string().into_bytes(),
                                2 => vec![b'x'; rng.gen_range(0..300)],
                                _ => b"01".to_vec(),
                            })
                            .collect();
                        let names = [&b"a"[..], b"b", b"-17", b"c"];
                        let pairs: Vec<(&[u8], &[u8])> = values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (names[(i + rng.gen_range(0..2)) % 4], &v[..]))
                            .collect();
                        s.append(next, &pairs, limits);
                        next = StreamId::new(next.ms + rng.gen_range(0..3), next.seq + 1);
                    }
                    6 | 7 => {
                        let ms = rng.gen_range(0..=next.ms);
                        let seq = rng.gen_range(0..=next.seq);
                        s.delete(StreamId::new(ms, seq));
                    }
                    8 => {
                        s.trim(Trim::MaxLen(rng.gen_range(0..30)), rng.gen_bool(0.5), 0);
                    }
                    _ => {
                        let min = StreamId::new(rng.gen_range(0..=next.ms), 0);
                        s.trim(Trim::MinId(min), rng.gen_bool(0.5), 0);
                    }
                }
                let mut live = 0u64;
                for (master, node) in &s.nodes {
                    let (l, d) = node.iter(*master).fold((0, 0), |(l, d), e| {
                        if e.deleted {
                            (l, d + 1)
                        } else {
                            (l + 1, d)
                        }
                    });
                    assert_eq!((node.live, node.deleted), (l, d));
                    assert_eq!(node.redis_bytes(), listpack_size(node, *master));
                    live += u64::from(node.live);
                }
                assert_eq!(live, s.len());
            }
        }
    }

    /// A stream rebuilt node by node from its [`NodeView`]s (as a snapshot
    /// loader does) has the same nodes, tombstones, sizes and entries, and
    /// then grows and trims like the original.
    #[test]
    fn nodes_rebuild_with_load_node() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let limits = NodeLimits {
            max_bytes: 300,
            max_entries: 7,
        };
        let mut s = Stream::new();
        for i in 0..200u64 {
            let v = rng.gen_range(0..1000).to_string();
            let f: &[u8] = if rng.gen_bool(0.8) { b"f" } else { b"g" };
            s.append(StreamId::new(i / 3, i % 3), &[(f, v.as_bytes())], limits);
            if rng.gen_bool(0.3) {
                s.delete(StreamId::new(rng.gen_range(0..=i / 3), rng.gen_range(0..3)));
            }
        }
        s.trim(Trim::MinId(StreamId::new(10, 1)), false, 0);
        let mut copy = Stream::new();
        for n in s.nodes() {
            let fields: Vec<&[u8]> = n.master_fields().collect();
            let entries: Vec<LoadedEntry> = n
                .entries()
                .map(|e| LoadedEntry {
                    id: e.id,
                    deleted: e.is_deleted(),
                    pairs: e.pairs().collect(),
                })
                .collect();
            assert!(copy.load_node(&fields, &entries));
            // The same node again is refused: its ids do not ascend.
            assert!(!copy.load_node(&fields, &entries));
        }
        assert!(!copy.load_node(&[], &[]));
        copy.last_id = s.last_id;
        copy.first_id = s.first_id;
        copy.entries_added = s.entries_added;
        assert_eq!(copy.len(), s.len());
        let sizes = |s: &Stream| -> Vec<_> {
            s.nodes
                .iter()
                .map(|(k, n)| (*k, n.live, n.deleted, n.redis_bytes(), listpack_size(n, *k)))
                .collect()
        };
        assert_eq!(sizes(&copy), sizes(&s));
        for st in [&mut s, &mut copy] {
            for i in 0..30u64 {
                st.append(StreamId::new(100 + i, 0), &[(b"f", b"x")], limits);
            }
            st.trim(Trim::MaxLen(60), true, 0);
        }
        assert_eq!(sizes(&copy), sizes(&s));
        let all = |s: &Stream| -> Vec<_> {
            s.range(StreamId::MIN, StreamId::MAX, false)
                .map(|e| (e.id, pairs(&e)))
                .collect()
        };
        assert_eq!(all(&copy), all(&s));
    }

    /// Random deliveries, re-deliveries to other consumers, acks and
    /// consumer deletions: the group's PEL and its consumers' PELs always
    /// hold the same ids, each owned by the consumer that lists it.
    #[test]
    fn group_and_consumer_pels_agree() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let names: [&[u8]; 4] = [b"alice", b"bob", b"carol", b"dave"];
        let mut g = Group::new(StreamId::MIN, 0);
        for step in 0..5000u64 {
            let id = StreamId::new(rng.gen_range(0..40), 0);
            let who = names[rng.gen_range(0..4)];
            match rng.gen_range(0..10) {
                0..=4 => {
                    g.consumer(who, step);
                    g.deliver(id, who, step, 1);
                }
                5..=7 => {
                    let had = g.pel.contains_key(&id);
                    assert_eq!(g.ack(id), had);
                }
                8 => {
                    let owned = g.consumers.get(who).map(|c| c.pel.len());
                    assert_eq!(g.delete_consumer(who), owned);
                }
                _ => {
                    g.consumer(who, step);
                }
            }
            let mut listed = 0;
            for (name, c) in &g.consumers {
                for id in &c.pel {
                    assert_eq!(&*g.pel[id].consumer, &**name);
                    listed += 1;
                }
            }
            assert_eq!(listed, g.pel.len());
        }
    }
}
