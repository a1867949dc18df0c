//! Streams to and from Redis's RDB stream objects: the body that follows
//! the type byte of `RDB_TYPE_STREAM_LISTPACKS` (15, Redis 5 to 6.2),
//! `_2` (19, Redis 7.0, what we write) and `_3` (21, Redis 7.2).
//!
//! ```text
//! nodes: len, then per node: master id (16-byte string: ms, seq big-endian)
//!        and its listpack (a string)
//! length: len | last id: len ms, len seq
//! [first id, max deleted id: 2 lens each | entries added: len]      -- 19, 21
//! groups: len, then per group: name | last id (2 lens) | [entries read]
//!   global PEL: len, then per entry: raw 16-byte id | delivery time
//!               (8 bytes LE, ms) | delivery count (len)
//!   consumers: len, then per consumer: name | seen time (8 bytes LE)
//!              | [active time (8 bytes LE)]                         -- 21
//!              | PEL: len, then raw 16-byte ids
//! ```
//!
//! A node's listpack is Redis's stream node layout (t_stream.c,
//! `streamAppendItem`): a master entry `count | deleted | nfields | field*
//! | 0`, then per entry `flags | ms-diff | seq-diff | [nfields | (field
//! value)*] or value* (SAMEFIELDS) | lp-count`. Our nodes mirror Redis's
//! (same boundaries, tombstones kept), so we write them one for one and
//! rebuild them one for one: a stream made by the same commands DUMPs to
//! the same bytes as Redis's, and approximate trims drop the same entries
//! after a reload.
//!
//! Reading validates like Redis's loader with deep sanitization
//! (`streamValidateListpackIntegrity`, duplicate groups / consumers / PEL
//! entries, consumer PELs resolved in the global PEL, every pending entry
//! owned), and also what our structure relies on: each node keyed by its
//! first entry, ids ascending across nodes, counts matching the entries,
//! no live entry past the last id. No count from the input sizes an
//! allocation: every loop consumes input or fails.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use rdb::encoding::{read_len, read_string, write_len, write_string};
use rdb::{listpack, Element, Error};
use types::stream::{
    Consumer, Group, LoadedEntry, NodeView, Pending, Stream, StreamId, INVALID_ENTRIES_READ,
};

// Stream objects: 15 (Redis 5 to 6.2: no first / max-deleted ids, no
// entries-added or group read counters), 19 (Redis 7.0, what
// [`write_stream`] writes), 21 (Redis 7.2: consumers also carry their
// active time).
pub use crate::object::{
    TYPE_STREAM_LISTPACKS as RDB_TYPE_STREAM_LISTPACKS,
    TYPE_STREAM_LISTPACKS_2 as RDB_TYPE_STREAM_LISTPACKS_2,
    TYPE_STREAM_LISTPACKS_3 as RDB_TYPE_STREAM_LISTPACKS_3,
};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Appends the body of a type-19 stream object for `s` (Redis 7.0's
/// `rdbSaveObject`), strings LZF-compressed as `write_string` does when
/// `compression` is on.
pub fn write_stream(out: &mut Vec<u8>, s: &Stream, compression: bool) {
    write_body(out, s, compression, RDB_TYPE_STREAM_LISTPACKS_2);
}

/// The body in the layout of `rdb_type` (15, 19 or 21); the older and
/// newer layouts are for tests of the reader.
fn write_body(out: &mut Vec<u8>, s: &Stream, compression: bool, rdb_type: u8) {
    write_len(out, s.node_count() as u64);
    for node in s.nodes() {
        write_string(out, &id_key(node.master), compression);
        write_string(out, &node_listpack(&node), compression);
    }
    write_len(out, s.len());
    write_id(out, s.last_id);
    if rdb_type != RDB_TYPE_STREAM_LISTPACKS {
        write_id(out, s.first_id);
        write_id(out, s.max_deleted_id);
        write_len(out, s.entries_added);
    }
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(out, name, compression);
        write_id(out, g.last_id);
        if rdb_type != RDB_TYPE_STREAM_LISTPACKS {
            // -1 (unknown) goes out as the 64-bit length 2^64-1, as Redis
            // writes its long long.
            write_len(out, g.entries_read as u64);
        }
        write_len(out, g.pel.len() as u64);
        for (id, p) in &g.pel {
            out.extend_from_slice(&id_key(*id));
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            write_len(out, p.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname, compression);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            if rdb_type == RDB_TYPE_STREAM_LISTPACKS_3 {
                out.extend_from_slice(&c.active_time.to_le_bytes());
            }
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id_key(*id));
            }
        }
    }
}

/// An id as a radix-tree key: ms and seq, big-endian.
fn id_key(id: StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

/// One node in Redis's listpack layout. Integer parts go in with
/// `push_int` (`lpAppendInteger`), names and values with `push`
/// (`lpAppend`, which stores canonical integers as integers).
fn node_listpack(node: &NodeView<'_>) -> Vec<u8> {
    let master_fields: Vec<&[u8]> = node.master_fields().collect();
    let mut lp = listpack::Writer::new();
    lp.push_int(i64::from(node.live()));
    lp.push_int(i64::from(node.deleted()));
    lp.push_int(master_fields.len() as i64);
    for f in &master_fields {
        lp.push(f);
    }
    lp.push_int(0);
    for e in node.entries() {
        let n = e.field_count();
        let same =
            n == master_fields.len() && e.pairs().zip(&master_fields).all(|((f, _), m)| f == *m);
        let mut flags = 0;
        if e.is_deleted() {
            flags |= FLAG_DELETED;
        }
        if same {
            flags |= FLAG_SAMEFIELDS;
        }
        lp.push_int(flags);
        lp.push_int(e.id.ms.wrapping_sub(node.master.ms) as i64);
        lp.push_int(e.id.seq.wrapping_sub(node.master.seq) as i64);
        if same {
            for (_, v) in e.pairs() {
                lp.push(v);
            }
            lp.push_int(n as i64 + 3);
        } else {
            lp.push_int(n as i64);
            for (f, v) in e.pairs() {
                lp.push(f);
                lp.push(v);
            }
            lp.push_int(2 * n as i64 + 4);
        }
    }
    lp.finish()
}

/// Reads a stream object body of type `rdb_type` (15, 19 or 21) at
/// `*pos`, advancing it past the body.
pub fn read_stream(rdb_type: u8, buf: &[u8], pos: &mut usize) -> Result<Stream, Error> {
    if ![
        RDB_TYPE_STREAM_LISTPACKS,
        RDB_TYPE_STREAM_LISTPACKS_2,
        RDB_TYPE_STREAM_LISTPACKS_3,
    ]
    .contains(&rdb_type)
    {
        return Err(Error::BadEncoding);
    }
    let v1 = rdb_type == RDB_TYPE_STREAM_LISTPACKS;

    // The nodes come before the last id, which decides what to keep of
    // them: collect them first (their size is bounded by the input's).
    let node_count = read_plain_len(buf, pos)?;
    let mut raw_nodes = Vec::new();
    for _ in 0..node_count {
        let key = read_string(buf, pos)?;
        let master = parse_id_key(&key).ok_or(Error::Corrupt)?;
        let blob = read_string(buf, pos)?;
        raw_nodes.push((master, blob));
    }
    let length = read_plain_len(buf, pos)?;
    let last_id = read_id(buf, pos)?;

    let mut s = Stream::new();
    for (master, blob) in &raw_nodes {
        load_node(&mut s, *master, blob, last_id)?;
    }
    if s.len() != length {
        return Err(Error::Corrupt);
    }
    s.last_id = last_id;
    if v1 {
        // Redis's migration: every entry counts as added, no tombstones
        // are known (an empty stream's first id is 0-0 here, as XDEL and
        // XTRIM leave it).
        s.first_id = s.edge(false).map_or(StreamId::MIN, |e| e.id);
        s.max_deleted_id = StreamId::MIN;
        s.entries_added = length;
    } else {
        s.first_id = read_id(buf, pos)?;
        s.max_deleted_id = read_id(buf, pos)?;
        s.entries_added = read_plain_len(buf, pos)?;
        // Our read counters and lags subtract these (in i64).
        if s.entries_added < length || s.entries_added > i64::MAX as u64 {
            return Err(Error::Corrupt);
        }
    }

    let group_count = read_plain_len(buf, pos)?;
    for _ in 0..group_count {
        let name = read_string(buf, pos)?;
        let group_last = read_id(buf, pos)?;
        let entries_read = if v1 {
            s.estimate_entries_read(group_last)
        } else {
            let v = read_plain_len(buf, pos)? as i64;
            if v < INVALID_ENTRIES_READ {
                return Err(Error::Corrupt);
            }
            v
        };
        let group = read_group_pels(rdb_type, buf, pos, group_last, entries_read)?;
        if s.groups.insert(name.into(), group).is_some() {
            return Err(Error::Corrupt);
        }
    }
    Ok(s)
}

/// A group's global PEL and its consumers, every pending entry owned by
/// exactly one of them.
fn read_group_pels(
    rdb_type: u8,
    buf: &[u8],
    pos: &mut usize,
    last_id: StreamId,
    entries_read: i64,
) -> Result<Group, Error> {
    /// A global PEL entry until a consumer's PEL names its owner.
    struct Unresolved {
        delivery_time: u64,
        delivery_count: u64,
        owner: Option<Box<[u8]>>,
    }
    let mut group = Group::new(last_id, entries_read);
    let mut pel: BTreeMap<StreamId, Unresolved> = BTreeMap::new();
    let pel_len = read_plain_len(buf, pos)?;
    for _ in 0..pel_len {
        let id = read_raw_id(buf, pos)?;
        let entry = Unresolved {
            delivery_time: read_ms_time(buf, pos)?,
            delivery_count: read_plain_len(buf, pos)?,
            owner: None,
        };
        if pel.insert(id, entry).is_some() {
            return Err(Error::Corrupt);
        }
    }
    let consumer_count = read_plain_len(buf, pos)?;
    for _ in 0..consumer_count {
        let name: Box<[u8]> = read_string(buf, pos)?.into();
        let seen_time = read_ms_time(buf, pos)?;
        // Before 7.2 the seen time is the best estimate (Redis does so).
        let active_time = if rdb_type == RDB_TYPE_STREAM_LISTPACKS_3 {
            read_ms_time(buf, pos)? as i64
        } else {
            seen_time as i64
        };
        let mut ids = BTreeSet::new();
        let owned = read_plain_len(buf, pos)?;
        for _ in 0..owned {
            let id = read_raw_id(buf, pos)?;
            let entry = pel.get_mut(&id).ok_or(Error::Corrupt)?;
            if entry.owner.is_some() {
                return Err(Error::Corrupt);
            }
            entry.owner = Some(name.clone());
            ids.insert(id);
        }
        let consumer = Consumer {
            seen_time,
            active_time,
            pel: ids,
        };
        if group.consumers.insert(name, consumer).is_some() {
            return Err(Error::Corrupt);
        }
    }
    for (id, entry) in pel {
        let pending = Pending {
            delivery_time: entry.delivery_time,
            delivery_count: entry.delivery_count,
            consumer: entry.owner.ok_or(Error::Corrupt)?,
        };
        group.pel.insert(id, pending);
    }
    Ok(group)
}

/// Validates one node's listpack as `streamValidateListpackIntegrity` does
/// in deep mode, and adds it to `s`. Tombstones past `last_id` are
/// dropped (XSETID may set the last id below trailing deleted entries);
/// live ones are an error.
fn load_node(
    s: &mut Stream,
    master: StreamId,
    blob: &[u8],
    last_id: StreamId,
) -> Result<(), Error> {
    let elements = listpack::decode(blob)?;
    let mut it = elements.iter();
    let live = next_int(&mut it)?;
    let deleted = next_int(&mut it)?;
    let master_count = next_count(&mut it)?;
    let mut master_fields = Vec::new();
    for _ in 0..master_count {
        master_fields.push(text(it.next().ok_or(Error::Corrupt)?));
    }
    if next_int(&mut it)? != 0 {
        return Err(Error::Corrupt);
    }
    if live < 0 || deleted < 0 {
        return Err(Error::Corrupt);
    }
    let total = live.checked_add(deleted).ok_or(Error::Corrupt)?;

    // Entry texts first (integers turned to decimal), then the entries
    // borrowing them.
    struct Raw {
        id: StreamId,
        deleted: bool,
        same: bool,
        first: usize,
        n: usize,
    }
    let mut texts: Vec<Cow<[u8]>> = Vec::new();
    let mut raws = Vec::new();
    let mut seen_deleted = 0i64;
    for _ in 0..total {
        let flags = next_int(&mut it)?;
        let ms = master.ms.wrapping_add(next_int(&mut it)? as u64);
        let seq = master.seq.wrapping_add(next_int(&mut it)? as u64);
        let same = flags & FLAG_SAMEFIELDS != 0;
        let n = if same {
            master_count
        } else {
            next_count(&mut it)?
        };
        let first = texts.len();
        for _ in 0..n {
            if !same {
                texts.push(text(it.next().ok_or(Error::Corrupt)?));
            }
            texts.push(text(it.next().ok_or(Error::Corrupt)?));
        }
        let lp_count = next_int(&mut it)?;
        let want = if same { n + 3 } else { 2 * n + 4 };
        if lp_count != want as i64 {
            return Err(Error::Corrupt);
        }
        let is_deleted = flags & FLAG_DELETED != 0;
        seen_deleted += i64::from(is_deleted);
        raws.push(Raw {
            id: StreamId::new(ms, seq),
            deleted: is_deleted,
            same,
            first,
            n,
        });
    }
    if it.next().is_some() || seen_deleted != deleted {
        return Err(Error::Corrupt);
    }
    // Keyed by its first entry, which Redis never removes from a node.
    if raws.first().map(|r| r.id) != Some(master) {
        return Err(Error::Corrupt);
    }
    let mut entries = Vec::with_capacity(raws.len());
    for r in &raws {
        if r.id > last_id {
            if r.deleted {
                continue;
            }
            return Err(Error::Corrupt);
        }
        let pairs = (0..r.n)
            .map(|i| {
                if r.same {
                    (&*master_fields[i], &*texts[r.first + i])
                } else {
                    (&*texts[r.first + 2 * i], &*texts[r.first + 2 * i + 1])
                }
            })
            .collect();
        entries.push(LoadedEntry {
            id: r.id,
            deleted: r.deleted,
            pairs,
        });
    }
    if entries.is_empty() {
        // Only tombstones past the last id: nothing to keep.
        return Ok(());
    }
    let fields: Vec<&[u8]> = master_fields.iter().map(|f| &**f).collect();
    if s.load_node(&fields, &entries) {
        Ok(())
    } else {
        Err(Error::Corrupt)
    }
}

/// An element as bytes: strings borrowed, integers in decimal.
fn text<'a>(e: &Element<'a>) -> Cow<'a, [u8]> {
    match e {
        Element::Str(s) => Cow::Borrowed(s),
        Element::Int(_) => Cow::Owned(e.to_vec()),
    }
}

/// An integer part of a node (`lpGetIntegerIfValid`: an integer, or a
/// string holding a canonical one).
fn next_int<'a>(it: &mut impl Iterator<Item = &'a Element<'a>>) -> Result<i64, Error> {
    match it.next().ok_or(Error::Corrupt)? {
        Element::Int(v) => Ok(*v),
        Element::Str(s) => canonical_i64(s).ok_or(Error::Corrupt),
    }
}

/// A field count: it cannot exceed the elements left, which bounds it.
fn next_count<'a>(it: &mut impl Iterator<Item = &'a Element<'a>>) -> Result<usize, Error> {
    usize::try_from(next_int(it)?).map_err(|_| Error::Corrupt)
}

/// Redis's `string2ll`: the canonical decimal form of an i64 only.
fn canonical_i64(s: &[u8]) -> Option<i64> {
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

fn parse_id_key(k: &[u8]) -> Option<StreamId> {
    let k: &[u8; 16] = k.try_into().ok()?;
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&k[..8]);
    seq.copy_from_slice(&k[8..]);
    Some(StreamId::new(
        u64::from_be_bytes(ms),
        u64::from_be_bytes(seq),
    ))
}

/// A length (never one of the special string encodings).
fn read_plain_len(buf: &[u8], pos: &mut usize) -> Result<u64, Error> {
    match read_len(buf, pos)? {
        (v, false) => Ok(v),
        (_, true) => Err(Error::BadEncoding),
    }
}

fn read_id(buf: &[u8], pos: &mut usize) -> Result<StreamId, Error> {
    let ms = read_plain_len(buf, pos)?;
    let seq = read_plain_len(buf, pos)?;
    Ok(StreamId::new(ms, seq))
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], Error> {
    let end = pos.checked_add(n).ok_or(Error::Truncated)?;
    let bytes = buf.get(*pos..end).ok_or(Error::Truncated)?;
    *pos = end;
    Ok(bytes)
}

/// A PEL id as stored raw (16 bytes, big-endian).
fn read_raw_id(buf: &[u8], pos: &mut usize) -> Result<StreamId, Error> {
    parse_id_key(take(buf, pos, 16)?).ok_or(Error::Truncated)
}

/// `rdbLoadMillisecondTime`: 8 bytes little-endian (its i64 bits).
fn read_ms_time(buf: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let b = take(buf, pos, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use types::stream::{NodeLimits, Trim};

    /// Everything a stream holds, in comparable form: nodes with their
    /// tombstones, counters, groups with PELs and consumers.
    #[derive(Debug, PartialEq)]
    struct Snapshot {
        nodes: Vec<(StreamId, Vec<Vec<u8>>, Vec<Entry>)>,
        len: u64,
        ids: [StreamId; 3],
        entries_added: u64,
        groups: Vec<GroupSnapshot>,
    }

    type Entry = (StreamId, bool, Vec<(Vec<u8>, Vec<u8>)>);

    #[derive(Debug, PartialEq)]
    struct GroupSnapshot {
        name: Vec<u8>,
        last_id: StreamId,
        entries_read: i64,
        pel: Vec<(StreamId, u64, u64, Vec<u8>)>,
        consumers: Vec<(Vec<u8>, u64, i64, Vec<StreamId>)>,
    }

    fn snapshot(s: &Stream) -> Snapshot {
        Snapshot {
            nodes: s
                .nodes()
                .map(|n| {
                    let entries = n
                        .entries()
                        .map(|e| {
                            let pairs = e.pairs().map(|(f, v)| (f.to_vec(), v.to_vec()));
                            (e.id, e.is_deleted(), pairs.collect())
                        })
                        .collect();
                    (
                        n.master,
                        n.master_fields().map(<[u8]>::to_vec).collect(),
                        entries,
                    )
                })
                .collect(),
            len: s.len(),
            ids: [s.last_id, s.first_id, s.max_deleted_id],
            entries_added: s.entries_added,
            groups: s
                .groups
                .iter()
                .map(|(name, g)| GroupSnapshot {
                    name: name.to_vec(),
                    last_id: g.last_id,
                    entries_read: g.entries_read,
                    pel: g
                        .pel
                        .iter()
                        .map(|(id, p)| {
                            (*id, p.delivery_time, p.delivery_count, p.consumer.to_vec())
                        })
                        .collect(),
                    consumers: g
                        .consumers
                        .iter()
                        .map(|(n, c)| {
                            let pel = c.pel.iter().copied().collect();
                            (n.to_vec(), c.seen_time, c.active_time, pel)
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn body(s: &Stream, rdb_type: u8, compression: bool) -> Vec<u8> {
        let mut out = Vec::new();
        write_body(&mut out, s, compression, rdb_type);
        out
    }

    fn read_all(rdb_type: u8, b: &[u8]) -> Result<Stream, Error> {
        let mut pos = 0;
        let s = read_stream(rdb_type, b, &mut pos)?;
        assert_eq!(pos, b.len(), "whole body read");
        Ok(s)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append {
            ms_step: u64,
            fields: Vec<u8>,
            values: Vec<u16>,
        },
        Delete(usize),
        TrimLen(u64, bool),
        TrimMinId(usize),
        Deliver {
            group: u8,
            consumer: u8,
            entry: usize,
            time: u64,
            count: u64,
        },
        Ack(u8, usize),
        DropConsumer(u8, u8),
        NewConsumer(u8, u8, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..3u64, prop::collection::vec(0..6u8, 0..4), prop::collection::vec(any::<u16>(), 4))
                .prop_map(|(ms_step, fields, values)| Op::Append { ms_step, fields, values }),
            2 => any::<usize>().prop_map(Op::Delete),
            1 => (0..40u64, any::<bool>()).prop_map(|(n, a)| Op::TrimLen(n, a)),
            1 => any::<usize>().prop_map(Op::TrimMinId),
            3 => (0..3u8, 0..4u8, any::<usize>(), any::<u64>(), 1..5u64).prop_map(
                |(group, consumer, entry, time, count)| Op::Deliver { group, consumer, entry, time, count }),
            1 => (0..3u8, any::<usize>()).prop_map(|(g, e)| Op::Ack(g, e)),
            1 => (0..3u8, 0..4u8).prop_map(|(g, c)| Op::DropConsumer(g, c)),
            1 => (0..3u8, 0..4u8, any::<u64>()).prop_map(|(g, c, t)| Op::NewConsumer(g, c, t)),
        ]
    }

    const FIELD_NAMES: [&[u8]; 6] = [b"a", b"bb", b"-12", b"", b"long-field-name-repeated", b"7"];
    const GROUPS: [&[u8]; 3] = [b"g", b"12345", b"a-rather-long-group-name-to-compress!!"];
    const CONSUMERS: [&[u8]; 4] = [b"alice", b"bob", b"-1", b"carol"];

    fn value_text(v: u16) -> Vec<u8> {
        match v % 5 {
            0 => (v as i64 - 30000).to_string().into_bytes(),
            1 => format!("0{v}").into_bytes(),
            2 => vec![b'x'; (v % 300) as usize],
            3 => (v as i64 * 1_000_000_007).to_string().into_bytes(),
            _ => format!("v{v}").into_bytes(),
        }
    }

    /// A stream built by random operations through the types API.
    fn build(ops: &[Op], limits: NodeLimits, extra: (u64, u64, i64)) -> Stream {
        let mut s = Stream::new();
        let mut live: Vec<StreamId> = Vec::new();
        let mut next = StreamId::new(1, 0);
        for op in ops {
            match op {
                Op::Append {
                    ms_step,
                    fields,
                    values,
                } => {
                    let vals: Vec<Vec<u8>> = values.iter().map(|v| value_text(*v)).collect();
                    let pairs: Vec<(&[u8], &[u8])> = fields
                        .iter()
                        .zip(&vals)
                        .map(|(f, v)| (FIELD_NAMES[*f as usize], &v[..]))
                        .collect();
                    s.append(next, &pairs, limits);
                    live.push(next);
                    next = if *ms_step == 0 {
                        next.incr().expect("small ids")
                    } else {
                        StreamId::new(next.ms + ms_step, 0)
                    };
                }
                Op::Delete(i) if !live.is_empty() => {
                    let id = live.remove(i % live.len());
                    assert!(s.delete(id));
                }
                Op::TrimLen(n, approx) => {
                    s.trim(Trim::MaxLen(*n), *approx, 0);
                }
                Op::TrimMinId(i) if !live.is_empty() => {
                    s.trim(Trim::MinId(live[i % live.len()]), false, 0);
                }
                Op::Deliver {
                    group,
                    consumer,
                    entry,
                    time,
                    count,
                } if !live.is_empty() => {
                    let id = live[entry % live.len()];
                    let g = s
                        .groups
                        .entry(GROUPS[*group as usize].into())
                        .or_insert_with(|| Group::new(StreamId::MIN, 0));
                    let name = CONSUMERS[*consumer as usize];
                    g.consumer(name, *time);
                    g.deliver(id, name, *time, *count);
                    if id > g.last_id {
                        g.last_id = id;
                        g.entries_read += 1;
                    }
                }
                Op::Ack(group, i) if !live.is_empty() => {
                    if let Some(g) = s.groups.get_mut(GROUPS[*group as usize]) {
                        g.ack(live[i % live.len()]);
                    }
                }
                Op::DropConsumer(group, c) => {
                    if let Some(g) = s.groups.get_mut(GROUPS[*group as usize]) {
                        g.delete_consumer(CONSUMERS[*c as usize]);
                    }
                }
                Op::NewConsumer(group, c, t) => {
                    if let Some(g) = s.groups.get_mut(GROUPS[*group as usize]) {
                        let (consumer, _) = g.consumer(CONSUMERS[*c as usize], *t);
                        consumer.active_time = (*t / 2) as i64;
                    }
                }
                _ => {}
            }
            // Keep `live` in step with trims.
            live.retain(|id| s.get(*id).is_some());
        }
        // XSETID-like moves of the counters.
        let (last_bump, added_bump, entries_read) = extra;
        s.last_id = StreamId::new(s.last_id.ms + last_bump, s.last_id.seq);
        s.entries_added += added_bump;
        if last_bump > 0 {
            s.max_deleted_id = StreamId::new(s.last_id.ms, 0);
        }
        if let Some(g) = s.groups.values_mut().next() {
            g.entries_read = entries_read;
        }
        s
    }

    fn limits() -> impl Strategy<Value = NodeLimits> {
        (
            prop_oneof![Just(0usize), Just(60), Just(300), Just(4096)],
            0..6usize,
        )
            .prop_map(|(max_bytes, max_entries)| NodeLimits {
                max_bytes,
                max_entries,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// write → read gives the same stream (nodes, tombstones, ids,
        /// counters, groups), and writing that again the same bytes.
        #[test]
        fn round_trip(
            ops in prop::collection::vec(op(), 0..120),
            limits in limits(),
            extra in (0..3u64, 0..5u64, -1..30i64),
            compression in any::<bool>(),
        ) {
            let s = build(&ops, limits, extra);
            let b = body(&s, RDB_TYPE_STREAM_LISTPACKS_2, compression);
            let mut plain = Vec::new();
            write_stream(&mut plain, &s, compression);
            prop_assert_eq!(&plain, &b);
            let back = read_all(RDB_TYPE_STREAM_LISTPACKS_2, &b).expect("reads back");
            let mut want = snapshot(&s);
            // Type 19 has no active time: Redis takes the seen time.
            for g in &mut want.groups {
                for c in &mut g.consumers {
                    c.2 = c.1 as i64;
                }
            }
            prop_assert_eq!(snapshot(&back), want);
            prop_assert_eq!(body(&back, RDB_TYPE_STREAM_LISTPACKS_2, compression), b);

            // Type 21 (7.2) keeps active times.
            let b3 = body(&s, RDB_TYPE_STREAM_LISTPACKS_3, compression);
            let back3 = read_all(RDB_TYPE_STREAM_LISTPACKS_3, &b3).expect("reads back");
            prop_assert_eq!(snapshot(&back3), snapshot(&s));

            // Type 15 (5.0-6.2): counters as Redis derives them.
            let b1 = body(&s, RDB_TYPE_STREAM_LISTPACKS, compression);
            let back1 = read_all(RDB_TYPE_STREAM_LISTPACKS, &b1).expect("reads back");
            let old = snapshot(&back1);
            let want = snapshot(&s);
            prop_assert_eq!(&old.nodes, &want.nodes);
            prop_assert_eq!(old.len, want.len);
            prop_assert_eq!(old.entries_added, s.len());
            prop_assert_eq!(back1.max_deleted_id, StreamId::MIN);
            prop_assert_eq!(back1.first_id, s.edge(false).map_or(StreamId::MIN, |e| e.id));
            for (g_old, (_, g)) in back1.groups.values().zip(&s.groups) {
                prop_assert_eq!(g_old.entries_read, back1.estimate_entries_read(g.last_id));
                prop_assert_eq!(g_old.pel.len(), g.pel.len());
            }
        }
    }

    /// Bodies of a few shapes for the corruption tests.
    fn sample_bodies() -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let ops: Vec<Op> = (0..40u16)
            .map(|i| match i % 8 {
                5 => Op::Delete(i as usize * 7),
                6 => Op::Deliver {
                    group: (i % 3) as u8,
                    consumer: (i % 4) as u8,
                    entry: i as usize,
                    time: 1_700_000_000_000 + i as u64,
                    count: 1 + i as u64 % 3,
                },
                _ => Op::Append {
                    ms_step: (i % 3) as u64,
                    fields: if i % 4 == 0 {
                        vec![0, 1, 4]
                    } else {
                        vec![0, 1]
                    },
                    values: vec![i, i * 3 + 2, 300 + i, i * 5 + 3],
                },
            })
            .collect();
        let limits = NodeLimits {
            max_bytes: 0,
            max_entries: 6,
        };
        let s = build(&ops, limits, (1, 2, 7));
        assert!(s.node_count() >= 3 && !s.groups.is_empty());
        for (rdb_type, compression) in [
            (RDB_TYPE_STREAM_LISTPACKS_2, true),
            (RDB_TYPE_STREAM_LISTPACKS_2, false),
            (RDB_TYPE_STREAM_LISTPACKS_3, true),
            (RDB_TYPE_STREAM_LISTPACKS, false),
        ] {
            out.push((rdb_type, body(&s, rdb_type, compression)));
        }
        let small = build(&ops[..12], NodeLimits::default(), (0, 0, -1));
        out.push((
            RDB_TYPE_STREAM_LISTPACKS_2,
            body(&small, RDB_TYPE_STREAM_LISTPACKS_2, true),
        ));
        out
    }

    /// Every byte set to every other value, and every truncation: errors
    /// or some stream, never a panic; a truncated body never reads whole.
    #[test]
    fn corruption_never_panics() {
        let mut reads = 0usize;
        let mut accepted = 0usize;
        let bodies = sample_bodies();
        assert!(bodies.iter().any(|(_, b)| b.len() < 400));
        for (rdb_type, b) in bodies {
            eprintln!("type {rdb_type}: {} bytes", b.len());
            read_all(rdb_type, &b).expect("valid sample");
            for cut in 0..b.len() {
                let mut pos = 0;
                assert!(
                    read_stream(rdb_type, &b[..cut], &mut pos).is_err(),
                    "cut at {cut}"
                );
            }
            // Every value for a short body; for the others every bit flip
            // and the bytes that open length and string encodings.
            let every = b.len() < 400;
            for i in 0..b.len() {
                let values: Vec<u8> = if every {
                    (0..=255).collect()
                } else {
                    let flips = (0..8).map(|bit| b[i] ^ (1 << bit));
                    flips
                        .chain([0x00, 0x3f, 0x7f, 0x80, 0x81, 0xc0, 0xc3, 0xff])
                        .collect()
                };
                for v in values {
                    if v == b[i] {
                        continue;
                    }
                    let mut bad = b.clone();
                    bad[i] = v;
                    let mut pos = 0;
                    reads += 1;
                    if read_stream(rdb_type, &bad, &mut pos).is_ok() {
                        accepted += 1;
                    }
                }
            }
        }
        // Most single-byte changes are caught (the rest change a value, a
        // time, a counter or an id harmlessly).
        eprintln!("{reads} damaged bodies read, {accepted} accepted");
        assert!(accepted < reads / 2, "{accepted} of {reads} accepted");
    }

    /// A listpack element for hand-made nodes.
    enum E<'a> {
        I(i64),
        S(&'a [u8]),
    }

    fn lp(elements: &[E]) -> Vec<u8> {
        let mut w = listpack::Writer::new();
        for e in elements {
            match e {
                E::I(v) => w.push_int(*v),
                // Verbatim, even when it reads as an integer.
                E::S(s) => w.push_element(Element::Str(s)),
            }
        }
        w.finish()
    }

    struct RawGroup<'a> {
        name: &'a [u8],
        entries_read: u64,
        pel: Vec<StreamId>,
        consumers: Vec<(&'a [u8], Vec<StreamId>)>,
    }

    /// A type-19 body from parts: nodes (key, listpack), length, last /
    /// first / max-deleted ids, entries added, groups.
    fn raw_body(
        nodes: &[(StreamId, Vec<u8>)],
        length: u64,
        last: StreamId,
        entries_added: u64,
        groups: &[RawGroup],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        write_len(&mut out, nodes.len() as u64);
        for (key, blob) in nodes {
            write_string(&mut out, &id_key(*key), false);
            write_string(&mut out, blob, false);
        }
        write_len(&mut out, length);
        write_id(&mut out, last);
        write_id(&mut out, StreamId::new(1, 0));
        write_id(&mut out, StreamId::new(1, 1));
        write_len(&mut out, entries_added);
        write_len(&mut out, groups.len() as u64);
        for g in groups {
            write_string(&mut out, g.name, false);
            write_id(&mut out, last);
            write_len(&mut out, g.entries_read);
            write_len(&mut out, g.pel.len() as u64);
            for id in &g.pel {
                out.extend_from_slice(&id_key(*id));
                out.extend_from_slice(&5u64.to_le_bytes());
                write_len(&mut out, 1);
            }
            write_len(&mut out, g.consumers.len() as u64);
            for (name, ids) in &g.consumers {
                write_string(&mut out, name, false);
                out.extend_from_slice(&9u64.to_le_bytes());
                write_len(&mut out, ids.len() as u64);
                for id in ids {
                    out.extend_from_slice(&id_key(*id));
                }
            }
        }
        out
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    /// Node 1-0: field "f"; entries 1-0 (value "a") and 1-1 (deleted,
    /// value "b"), with the given counters and first-entry flags.
    fn node(live: i64, deleted: i64, first: &[E], lp_count: i64) -> Vec<u8> {
        let mut e = vec![E::I(live), E::I(deleted), E::I(1), E::S(b"f"), E::I(0)];
        e.extend(first.iter().map(|x| match x {
            E::I(v) => E::I(*v),
            E::S(s) => E::S(s),
        }));
        e.extend([E::S(b"a"), E::I(lp_count)]);
        e.extend([E::I(3), E::I(0), E::I(1), E::S(b"b"), E::I(4)]);
        lp(&e)
    }

    fn good_node() -> Vec<u8> {
        node(1, 1, &[E::I(2), E::I(0), E::I(0)], 4)
    }

    fn group<'a>(pel: &[StreamId], consumers: &[(&'a [u8], &[StreamId])]) -> RawGroup<'a> {
        RawGroup {
            name: b"g",
            entries_read: 1,
            pel: pel.to_vec(),
            consumers: consumers
                .iter()
                .map(|(n, ids)| (*n, ids.to_vec()))
                .collect(),
        }
    }

    fn reads(b: &[u8]) -> Result<Stream, Error> {
        read_all(RDB_TYPE_STREAM_LISTPACKS_2, b)
    }

    #[test]
    fn hand_made_bodies_accepted_and_refused() {
        let last = id(1, 1);
        let g_ok = || group(&[id(1, 0)], &[(b"c", &[id(1, 0)])]);
        let nodes = vec![(id(1, 0), good_node())];
        let s = reads(&raw_body(&nodes, 1, last, 2, &[g_ok()])).expect("valid");
        assert_eq!((s.len(), s.node_count(), s.entries_added), (1, 1, 2));
        assert_eq!(s.first_id, id(1, 0));
        assert_eq!(s.max_deleted_id, id(1, 1));
        assert_eq!(
            s.nodes().next().map(|n| (n.live(), n.deleted())),
            Some((1, 1))
        );
        assert_eq!(&*s.groups[&b"g"[..]].pel[&id(1, 0)].consumer, b"c");
        // Integer parts stored as canonical strings are read (as Redis's
        // lpGetIntegerIfValid does); other strings are not.
        let strs = node(1, 1, &[E::S(b"2"), E::S(b"0"), E::S(b"0")], 4);
        assert!(reads(&raw_body(&[(id(1, 0), strs)], 1, last, 2, &[])).is_ok());
        let bad = node(1, 1, &[E::S(b"02"), E::I(0), E::I(0)], 4);
        assert!(reads(&raw_body(&[(id(1, 0), bad)], 1, last, 2, &[])).is_err());
        // A tombstone past the last id (XSETID below it) is dropped.
        let s = reads(&raw_body(&nodes, 1, id(1, 0), 2, &[])).expect("valid");
        assert_eq!(
            s.nodes().next().map(|n| (n.live(), n.deleted())),
            Some((1, 0))
        );

        let refused: Vec<(&str, Vec<u8>)> = vec![
            ("node key is not its first entry", {
                let e = [E::I(1), E::I(0), E::I(1), E::S(b"f"), E::I(0)];
                let one = [E::I(2), E::I(0), E::I(1), E::S(b"a"), E::I(4)];
                let blob = lp(&e.into_iter().chain(one).collect::<Vec<_>>());
                raw_body(&[(id(1, 0), blob)], 1, last, 2, &[])
            }),
            ("node key is not 16 bytes", {
                let mut b = raw_body(&nodes, 1, last, 2, &[]);
                b[1] = 15;
                b.remove(2);
                b
            }),
            (
                "lp-count",
                raw_body(
                    &[(id(1, 0), node(1, 1, &[E::I(2), E::I(0), E::I(0)], 5))],
                    1,
                    last,
                    2,
                    &[],
                ),
            ),
            (
                "deleted count against flags",
                raw_body(
                    &[(id(1, 0), node(2, 0, &[E::I(2), E::I(0), E::I(0)], 4))],
                    2,
                    last,
                    2,
                    &[],
                ),
            ),
            (
                "entries beyond the counts",
                raw_body(
                    &[(id(1, 0), node(1, 0, &[E::I(2), E::I(0), E::I(0)], 4))],
                    1,
                    last,
                    2,
                    &[],
                ),
            ),
            ("length", raw_body(&nodes, 2, last, 2, &[])),
            (
                "entries added below length",
                raw_body(&nodes, 1, last, 0, &[]),
            ),
            (
                "live entry past the last id",
                raw_body(&nodes, 1, id(0, 5), 2, &[]),
            ),
            (
                "node keys not ascending",
                raw_body(
                    &[(id(1, 0), good_node()), (id(1, 0), good_node())],
                    2,
                    last,
                    2,
                    &[],
                ),
            ),
            (
                "empty node",
                raw_body(
                    &[(
                        id(1, 0),
                        lp(&[E::I(0), E::I(0), E::I(1), E::S(b"f"), E::I(0)]),
                    )],
                    0,
                    last,
                    2,
                    &[],
                ),
            ),
            (
                "consumer entry not in the PEL",
                raw_body(
                    &nodes,
                    1,
                    last,
                    2,
                    &[group(&[id(1, 0)], &[(b"c", &[id(1, 0), id(9, 9)])])],
                ),
            ),
            (
                "PEL entry without consumer",
                raw_body(
                    &nodes,
                    1,
                    last,
                    2,
                    &[group(&[id(1, 0), id(1, 1)], &[(b"c", &[id(1, 0)])])],
                ),
            ),
            (
                "PEL entry owned twice",
                raw_body(
                    &nodes,
                    1,
                    last,
                    2,
                    &[group(
                        &[id(1, 0)],
                        &[(b"c", &[id(1, 0)]), (b"d", &[id(1, 0)])],
                    )],
                ),
            ),
            (
                "duplicate PEL entry",
                raw_body(
                    &nodes,
                    1,
                    last,
                    2,
                    &[group(&[id(1, 0), id(1, 0)], &[(b"c", &[id(1, 0)])])],
                ),
            ),
            (
                "duplicate consumer",
                raw_body(
                    &nodes,
                    1,
                    last,
                    2,
                    &[group(&[], &[(b"c", &[]), (b"c", &[])])],
                ),
            ),
            (
                "duplicate group",
                raw_body(&nodes, 1, last, 2, &[g_ok(), g_ok()]),
            ),
            (
                "entries read below -1",
                raw_body(
                    &nodes,
                    1,
                    last,
                    2,
                    &[RawGroup {
                        entries_read: (-2i64) as u64,
                        ..g_ok()
                    }],
                ),
            ),
        ];
        for (what, b) in refused {
            assert!(reads(&b).is_err(), "{what}: accepted");
        }
        let valid = raw_body(&nodes, 1, last, 2, &[g_ok()]);
        let mut pos = 0;
        assert_eq!(
            read_stream(20, &valid, &mut pos).err(),
            Some(Error::BadEncoding)
        );
        let mut longer = valid.clone();
        longer.push(0);
        let mut pos = 0;
        assert!(read_stream(RDB_TYPE_STREAM_LISTPACKS_2, &longer, &mut pos).is_ok());
        assert_eq!(pos, valid.len(), "stops at the end of the body");
    }
}
