//! Keyspace values to and from RDB objects: the type byte and the body
//! Redis's `rdbSaveObjectType` / `rdbSaveObject` write and `rdbLoadObject`
//! reads. Writing produces what Redis 7.0 (RDB version 10) writes for the
//! same value, so real Redis loads it; reading accepts every object type of
//! RDB versions 1–11 except modules, with Redis's deep integrity checks
//! (duplicates, sizes, listpack/ziplist/intset structure).

use std::collections::HashSet;

use keyspace::{StrValue, Value};
use rdb::encoding::{read_len, read_string, write_len, write_string};
use rdb::{intset, listpack, ziplist, zipmap, Element, Error};
use types::list::End;
use types::{Hash, Limits, List, Set, ZSet};

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
pub const TYPE_STREAM_LISTPACKS_3: u8 = 21;

/// Whether `t` is an object type byte (not an opcode).
pub fn is_object_type(t: u8) -> bool {
    t <= TYPE_STREAM_LISTPACKS_3 && t != 8
}

/// A quicklist node holding one large element as is (Redis 7.0's
/// `QUICKLIST_NODE_CONTAINER_PLAIN`); `PACKED` nodes hold a listpack.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Appends `value` as an RDB object: its type byte, then its body (a
/// DUMP payload's content).
pub fn write_value(out: &mut Vec<u8>, value: &Value, compression: bool) {
    out.push(object_type(value));
    write_body(out, value, compression);
}

/// The type byte Redis 7.0 writes for `value`.
pub fn object_type(value: &Value) -> u8 {
    match value {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Set(s) if s.encoding() == "intset" => TYPE_SET_INTSET,
        // RDB 10 has no listpack sets (Redis 7.2's type 20): a plain set.
        Value::Set(_) => TYPE_SET,
        Value::ZSet(z) if z.encoding() == "listpack" => TYPE_ZSET_LISTPACK,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Hash(h) if h.is_listpack() => TYPE_HASH_LISTPACK,
        Value::Hash(_) => TYPE_HASH,
        Value::Stream(_) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// Appends the body of `value`'s object (what follows the type byte, and
/// in a file the key).
pub fn write_body(out: &mut Vec<u8>, value: &Value, compression: bool) {
    match value {
        Value::Str(StrValue::Int(i)) => {
            let mut b = itoa::Buffer::new();
            write_string(out, b.format(*i).as_bytes(), compression);
        }
        Value::Str(other) => {
            let mut buf = keyspace::itoa_buf::Buf::default();
            write_string(out, other.bytes(&mut buf), compression);
        }
        Value::List(l) => write_list(out, l, compression),
        Value::Set(s) => write_set(out, s, compression),
        Value::ZSet(z) => write_zset(out, z, compression),
        Value::Hash(h) => write_hash(out, h, compression),
        Value::Stream(s) => crate::stream::write_stream(out, s, compression),
    }
}

/// A list as Redis 7.0 saves one: its quicklist nodes, a packed node as a
/// listpack, a plain one (a single large element) as the element itself.
fn write_list(out: &mut Vec<u8>, list: &List, compression: bool) {
    write_len(out, list.nodes().count() as u64);
    for (plain, mut elements) in list.nodes() {
        if plain {
            write_len(out, CONTAINER_PLAIN);
            write_string(out, elements.next().unwrap_or_default(), compression);
        } else {
            let mut node = listpack::Writer::new();
            for e in elements {
                node.push(e);
            }
            write_len(out, CONTAINER_PACKED);
            write_string(out, &node.finish(), compression);
        }
    }
}

fn write_set(out: &mut Vec<u8>, set: &Set, compression: bool) {
    if set.encoding() == "intset" {
        let mut values: Vec<i64> = set.iter().filter_map(|m| m.as_int()).collect();
        values.sort_unstable();
        write_string(out, &intset::encode(&values), compression);
        return;
    }
    write_len(out, set.len() as u64);
    for m in set.iter() {
        m.with_bytes(|b| write_string(out, b, compression));
    }
}

fn write_zset(out: &mut Vec<u8>, z: &ZSet, compression: bool) {
    if z.encoding() == "listpack" {
        let mut w = listpack::Writer::new();
        for (m, s) in z.iter() {
            w.push(m);
            w.push(resp::format_listpack_score(s).as_bytes());
        }
        write_string(out, &w.finish(), compression);
        return;
    }
    write_len(out, z.len() as u64);
    // Highest score first, as Redis (so its loader inserts at the head).
    let mut items: Vec<(&[u8], f64)> = z.iter().collect();
    items.reverse();
    for (m, s) in items {
        write_string(out, m, compression);
        out.extend_from_slice(&s.to_le_bytes());
    }
}

fn write_hash(out: &mut Vec<u8>, h: &Hash, compression: bool) {
    if h.is_listpack() {
        let mut w = listpack::Writer::new();
        for (f, v) in h.iter() {
            w.push(&f);
            w.push(&v);
        }
        write_string(out, &w.finish(), compression);
        return;
    }
    write_len(out, h.len() as u64);
    for (f, v) in h.iter() {
        write_string(out, &f, compression);
        write_string(out, &v, compression);
    }
}

/// Reads the body of an object of type `rdb_type` at `*pos`. `Ok(None)`
/// is an empty collection, which Redis refuses to create (a file's loader
/// skips the key; RESTORE answers "Bad data format").
pub fn read_value(
    rdb_type: u8,
    buf: &[u8],
    pos: &mut usize,
    limits: &Limits,
) -> Result<Option<Value>, Error> {
    let value = match rdb_type {
        TYPE_STRING => Value::Str(StrValue::from_vec(read_string(buf, pos)?)),
        TYPE_LIST => {
            let n = read_count(buf, pos, 1)?;
            let mut list = List::new();
            for _ in 0..n {
                let e = read_string(buf, pos)?;
                list.push_all(End::Tail, [e.as_slice()], limits.list_max_listpack_size);
            }
            Value::List(Box::new(list))
        }
        TYPE_LIST_ZIPLIST => {
            let blob = read_string(buf, pos)?;
            let mut list = List::new();
            push_elements(&mut list, &packed(&blob, false)?, limits);
            Value::List(Box::new(list))
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = read_count(buf, pos, 2)?;
            let mut list = List::new();
            for _ in 0..nodes {
                let container = if rdb_type == TYPE_LIST_QUICKLIST_2 {
                    read_len(buf, pos)?.0
                } else {
                    CONTAINER_PACKED
                };
                let blob = read_string(buf, pos)?;
                match container {
                    CONTAINER_PLAIN => {
                        list.push_all(End::Tail, [blob.as_slice()], limits.list_max_listpack_size)
                    }
                    CONTAINER_PACKED => {
                        let elements = packed(&blob, rdb_type == TYPE_LIST_QUICKLIST_2)?;
                        // Redis skips empty nodes (a bug of old versions could write them).
                        push_elements(&mut list, &elements, limits);
                    }
                    _ => return Err(Error::Corrupt),
                }
            }
            Value::List(Box::new(list))
        }
        TYPE_SET => {
            let n = read_count(buf, pos, 1)?;
            let mut set: Option<Set> = None;
            for _ in 0..n {
                let m = read_string(buf, pos)?;
                let s = set.get_or_insert_with(|| Set::for_first(&m, n, limits));
                if !s.insert(&m, limits) {
                    return Err(Error::Corrupt);
                }
            }
            match set {
                Some(s) => Value::Set(Box::new(s)),
                None => return Ok(None),
            }
        }
        TYPE_SET_INTSET => {
            let blob = read_string(buf, pos)?;
            let values = intset::decode(&blob)?;
            let mut set = Set::new();
            let mut b = itoa::Buffer::new();
            for v in values {
                set.insert(b.format(v).as_bytes(), limits);
            }
            Value::Set(Box::new(set))
        }
        TYPE_SET_LISTPACK => {
            let blob = read_string(buf, pos)?;
            let elements = listpack::decode(&blob)?;
            let mut set: Option<Set> = None;
            let mut b = Vec::new();
            for e in &elements {
                b.clear();
                e.write_to(&mut b);
                let s = set.get_or_insert_with(|| Set::for_first(&b, elements.len(), limits));
                if !s.insert(&b, limits) {
                    return Err(Error::Corrupt);
                }
            }
            match set {
                Some(s) => Value::Set(Box::new(s)),
                None => return Ok(None),
            }
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = read_count(buf, pos, 9)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let m = read_string(buf, pos)?;
                let score = if rdb_type == TYPE_ZSET_2 {
                    let b = take(buf, pos, 8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    f64::from_le_bytes(a)
                } else {
                    read_text_score(buf, pos)?
                };
                if score.is_nan() {
                    return Err(Error::Corrupt);
                }
                entries.push((m, score));
            }
            zset_from(entries, limits)?
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let blob = read_string(buf, pos)?;
            let elements = packed_pairs(&blob, rdb_type == TYPE_ZSET_LISTPACK)?;
            let mut entries = Vec::with_capacity(elements.len() / 2);
            for pair in elements.chunks_exact(2) {
                entries.push((pair[0].to_vec(), element_score(&pair[1])?));
            }
            zset_from(entries, limits)?
        }
        TYPE_HASH => {
            let n = read_count(buf, pos, 2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((read_string(buf, pos)?, read_string(buf, pos)?));
            }
            let pairs = pairs.iter().map(|(f, v)| (f.as_slice(), v.as_slice()));
            Value::Hash(Hash::from_pairs(pairs, limits).ok_or(Error::Corrupt)?)
        }
        TYPE_HASH_ZIPMAP => {
            let blob = read_string(buf, pos)?;
            let pairs = zipmap::decode(&blob)?;
            let hash = Hash::from_pairs(pairs.iter().copied(), limits).ok_or(Error::Corrupt)?;
            Value::Hash(hash)
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = read_string(buf, pos)?;
            let elements = packed_pairs(&blob, rdb_type == TYPE_HASH_LISTPACK)?;
            let (arena, ranges) = element_bytes(&elements);
            let pairs = ranges
                .chunks_exact(2)
                .map(|p| (&arena[p[0].clone()], &arena[p[1].clone()]));
            Value::Hash(Hash::from_pairs(pairs, limits).ok_or(Error::Corrupt)?)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
            // An empty stream is a valid value (XADD with NOMKSTREAM aside,
            // XTRIM can empty one).
            return Ok(Some(Value::Stream(Box::new(crate::stream::read_stream(
                rdb_type, buf, pos,
            )?))));
        }
        _ => return Err(Error::BadEncoding),
    };
    Ok(if value_is_empty(&value) {
        None
    } else {
        Some(value)
    })
}

fn value_is_empty(v: &Value) -> bool {
    match v {
        Value::Str(_) | Value::Stream(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        Value::Hash(h) => h.is_empty(),
    }
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], Error> {
    let end = pos.checked_add(n).ok_or(Error::Truncated)?;
    let b = buf.get(*pos..end).ok_or(Error::Truncated)?;
    *pos = end;
    Ok(b)
}

/// A collection's element count, refused when the rest of the data could
/// not hold that many elements of `min_bytes` each (so a corrupt count
/// cannot make the loader allocate or loop without end).
fn read_count(buf: &[u8], pos: &mut usize, min_bytes: usize) -> Result<usize, Error> {
    let (n, encoded) = read_len(buf, pos)?;
    if encoded {
        return Err(Error::BadEncoding);
    }
    let left = (buf.len() - *pos) as u64;
    if n.saturating_mul(min_bytes as u64) > left {
        return Err(Error::Truncated);
    }
    Ok(n as usize)
}

/// A score of the old ZSET type: a one-byte length and `%.17g` text, or
/// 253 / 254 / 255 for nan / inf / -inf.
fn read_text_score(buf: &[u8], pos: &mut usize) -> Result<f64, Error> {
    let len = take(buf, pos, 1)?[0];
    match len {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        n => parse_score(take(buf, pos, n as usize)?),
    }
}

fn parse_score(text: &[u8]) -> Result<f64, Error> {
    let s = std::str::from_utf8(text).map_err(|_| Error::Corrupt)?;
    let v: f64 = match s {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().map_err(|_| Error::Corrupt)?,
    };
    if v.is_nan() {
        return Err(Error::Corrupt);
    }
    Ok(v)
}

fn element_score(e: &Element<'_>) -> Result<f64, Error> {
    match e {
        Element::Int(v) => Ok(*v as f64),
        Element::Str(s) => parse_score(s),
    }
}

/// A sorted set from loaded entries; duplicate members are corruption.
fn zset_from(entries: Vec<(Vec<u8>, f64)>, limits: &Limits) -> Result<Value, Error> {
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(entries.len());
    if !entries.iter().all(|(m, _)| seen.insert(m)) {
        return Err(Error::Corrupt);
    }
    drop(seen);
    Ok(Value::ZSet(ZSet::from_entries(entries, limits)))
}

/// The elements of a packed blob: a listpack, or a ziplist (older files).
fn packed(blob: &[u8], listpack: bool) -> Result<Vec<Element<'_>>, Error> {
    if listpack {
        listpack::decode(blob)
    } else {
        ziplist::decode(blob)
    }
}

/// [`packed`] elements that alternate field (member) and value (score):
/// an odd count is corruption.
fn packed_pairs(blob: &[u8], listpack: bool) -> Result<Vec<Element<'_>>, Error> {
    let elements = packed(blob, listpack)?;
    if elements.len() % 2 != 0 {
        return Err(Error::Corrupt);
    }
    Ok(elements)
}

/// The elements' bytes (integers in decimal) side by side, and where each
/// one is.
fn element_bytes(elements: &[Element<'_>]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut arena = Vec::new();
    let mut ranges = Vec::with_capacity(elements.len());
    for e in elements {
        let start = arena.len();
        e.write_to(&mut arena);
        ranges.push(start..arena.len());
    }
    (arena, ranges)
}

fn push_elements(list: &mut List, elements: &[Element<'_>], limits: &Limits) {
    let (arena, ranges) = element_bytes(elements);
    list.push_all(
        End::Tail,
        ranges.iter().map(|r| &arena[r.clone()]),
        limits.list_max_listpack_size,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: &Value) -> Value {
        let limits = Limits::default();
        let mut out = Vec::new();
        write_value(&mut out, v, true);
        let mut pos = 1;
        let back = read_value(out[0], &out, &mut pos, &limits)
            .expect("reads")
            .expect("not empty");
        assert_eq!(pos, out.len());
        back
    }

    fn list_of(items: &[Vec<u8>]) -> Value {
        let mut l = List::new();
        l.push_all(End::Tail, items.iter().map(|v| v.as_slice()), -2);
        Value::List(Box::new(l))
    }

    #[test]
    fn lists_roundtrip_across_nodes() {
        for n in [1usize, 7, 500, 5000] {
            let items: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        i.to_string().into_bytes()
                    } else {
                        format!("item-{i}-{}", "x".repeat(i % 40)).into_bytes()
                    }
                })
                .collect();
            let Value::List(back) = roundtrip(&list_of(&items)) else {
                panic!("not a list")
            };
            let back: Vec<Vec<u8>> = back.iter().map(|e| e.to_vec()).collect();
            assert_eq!(back, items);
        }
    }

    #[test]
    fn sets_hashes_zsets_roundtrip() {
        let limits = Limits::default();
        for n in [3usize, 200, 1000] {
            let mut ints = Set::new();
            let mut strs = Set::new();
            let mut hash = Hash::new();
            let mut entries = Vec::new();
            for i in 0..n {
                ints.insert(format!("{}", i as i64 * 7 - 50).as_bytes(), &limits);
                strs.insert(format!("m{i}").as_bytes(), &limits);
                hash.insert(
                    format!("f{i}").as_bytes(),
                    i.to_string().as_bytes(),
                    &limits,
                );
                entries.push((format!("z{i}").into_bytes(), i as f64 / 3.0 - 10.0));
            }
            entries.push((b"inf".to_vec(), f64::INFINITY));
            let zset = ZSet::from_entries(entries.clone(), &limits);
            for v in [
                Value::Set(Box::new(ints)),
                Value::Set(Box::new(strs)),
                Value::Hash(hash),
                Value::ZSet(zset),
            ] {
                let back = roundtrip(&v);
                assert_eq!(back.encoding(), v.encoding(), "{n}");
                match (&v, &back) {
                    (Value::Set(a), Value::Set(b)) => {
                        let mut x: Vec<Vec<u8>> = a.iter().map(|m| m.to_vec()).collect();
                        let mut y: Vec<Vec<u8>> = b.iter().map(|m| m.to_vec()).collect();
                        x.sort();
                        y.sort();
                        assert_eq!(x, y);
                    }
                    (Value::Hash(a), Value::Hash(b)) => {
                        assert_eq!(a.len(), b.len());
                        for (f, val) in a.iter() {
                            assert_eq!(b.get(&f).map(|x| x.to_vec()), Some(val.to_vec()));
                        }
                    }
                    (Value::ZSet(a), Value::ZSet(b)) => {
                        let x: Vec<_> = a.iter().collect();
                        let y: Vec<_> = b.iter().collect();
                        assert_eq!(x, y);
                    }
                    _ => panic!("type changed"),
                }
            }
        }
    }

    #[test]
    fn strings_keep_their_bytes() {
        for s in [&b"12345"[..], b"-0", b"hello", &[b'a'; 500], &[7u8; 100]] {
            let Value::Str(back) = roundtrip(&Value::Str(StrValue::from_bytes(s))) else {
                panic!()
            };
            assert_eq!(back.to_vec(), s);
        }
    }

    #[test]
    fn redis_7_2_listpack_sets_load() {
        // RDB 11's set in a listpack (type 20): what Redis 7.2 writes for a
        // small set with a non-integer member.
        let limits = Limits::default();
        let mut body = Vec::new();
        let blob = listpack::encode([&b"a"[..], b"12", b"hello"]);
        write_string(&mut body, &blob, false);
        let mut pos = 0;
        let Some(Value::Set(set)) =
            read_value(TYPE_SET_LISTPACK, &body, &mut pos, &limits).expect("valid")
        else {
            panic!("not a set")
        };
        let mut members: Vec<Vec<u8>> = set.iter().map(|m| m.to_vec()).collect();
        members.sort();
        assert_eq!(
            members,
            vec![b"12".to_vec(), b"a".to_vec(), b"hello".to_vec()]
        );
        // A repeated member is corruption, as in Redis's deep check.
        let mut dup = Vec::new();
        write_string(&mut dup, &listpack::encode([&b"a"[..], b"a"]), false);
        let mut pos = 0;
        assert!(read_value(TYPE_SET_LISTPACK, &dup, &mut pos, &limits).is_err());
    }

    #[test]
    fn damaged_bodies_never_panic() {
        let limits = Limits::default();
        let mut hash = Hash::new();
        for i in 0..20 {
            hash.insert(format!("f{i}").as_bytes(), b"v", &limits);
        }
        let mut out = Vec::new();
        write_value(&mut out, &Value::Hash(hash), false);
        write_value(&mut out, &list_of(&[b"a".to_vec(), b"12".to_vec()]), false);
        for i in 0..out.len() {
            for bit in 0..8 {
                let mut bad = out.clone();
                bad[i] ^= 1 << bit;
                let mut pos = 1;
                let _ = read_value(bad[0], &bad, &mut pos, &limits);
            }
        }
        for cut in 1..out.len() {
            let mut pos = 1;
            let _ = read_value(out[0], &out[..cut], &mut pos, &limits);
        }
        // A count far beyond the data is refused before any allocation.
        let mut pos = 0;
        assert!(read_value(TYPE_SET, b"\x80\xff\xff\xff\xff", &mut pos, &limits).is_err());
    }
}
