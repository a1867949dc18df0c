//! Redis's ziplist byte format (ziplist.c), as RDB files and DUMP payloads
//! from Redis 2.6 to 6.2 carry small lists (object type 10), sorted sets
//! (12) and hashes (13). Redis 7 no longer writes ziplists but loads them,
//! so this side only reads them.
//!
//! ```text
//! zlbytes: u32 LE | zltail: u32 LE (offset of the last entry)
//! zllen: u16 LE (65535: count by walking)
//! entries: prevlen (1 byte, or 0xFE + u32 LE) | encoding | data
//! 0xFF
//! ```
//!
//! An entry's encoding byte is a string with a 6-bit (`00`), 14-bit (`01`,
//! big-endian) or 32-bit (`10`, then u32 big-endian) length, or an integer:
//! 0xFE int8, 0xC0 int16, 0xF0 int24, 0xD0 int32, 0xE0 int64 (all
//! little-endian), or 0xF1..=0xFD the values 0..=12 in the byte itself.
//! The decoder validates a blob as `ziplistValidateIntegrity` does with
//! deep checks, and borrows every string from it.

use std::collections::HashSet;

use crate::encoding::canonical_i64;
use crate::{Element, Error};

const HEADER: usize = 10;
const END: u8 = 0xFF;
/// A prevlen first byte this large announces the 4-byte form.
const BIG_PREVLEN: u8 = 0xFE;
/// The entry count field's "unknown" value.
const COUNT_UNKNOWN: u16 = u16::MAX;

const INT16: u8 = 0xC0;
const INT32: u8 = 0xD0;
const INT64: u8 = 0xE0;
const INT24: u8 = 0xF0;
const INT8: u8 = 0xFE;
const IMM_MIN: u8 = 0xF1;
const IMM_MAX: u8 = 0xFD;

/// One entry, as `zipEntrySafe` reads it.
struct Entry<'a> {
    /// The length of the previous entry, as this one records it.
    prevlen: u64,
    /// Bytes from the entry's first byte to the next entry.
    size: usize,
    element: Element<'a>,
}

/// A little-endian signed integer of 1 to 8 bytes.
fn read_int(bytes: &[u8]) -> i64 {
    let mut wide = [0u8; 8];
    wide[..bytes.len()].copy_from_slice(bytes);
    // Shifting up then back (arithmetic) sign-extends the narrow value.
    let unused = 64 - 8 * bytes.len() as u32;
    (i64::from_le_bytes(wide) << unused) >> unused
}

/// Reads the entry at `pos`. Like `zipEntrySafe`, it must end at or
/// before `end`, the position of the end byte.
fn read_entry(blob: &[u8], pos: usize, end: usize) -> Result<Entry<'_>, Error> {
    let (prevlen, enc_pos) = if blob[pos] < BIG_PREVLEN {
        (blob[pos] as u64, pos + 1)
    } else {
        let b = blob.get(pos + 1..pos + 5).ok_or(Error::Corrupt)?;
        (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64, pos + 5)
    };
    if enc_pos > end {
        return Err(Error::Corrupt);
    }
    let encoding = blob[enc_pos];
    // The length header bytes after the encoding byte, and the data size.
    let (len_bytes, data_len) = match encoding >> 6 {
        0 => (0, (encoding & 0x3f) as u64),
        1 => {
            let low = *blob.get(enc_pos + 1).ok_or(Error::Corrupt)?;
            (1, (((encoding & 0x3f) as u64) << 8) | low as u64)
        }
        // The low 6 bits of a 32-bit string's first byte are ignored.
        2 => {
            let b = blob.get(enc_pos + 1..enc_pos + 5).ok_or(Error::Corrupt)?;
            (4, u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
        }
        _ => match encoding {
            INT8 => (0, 1),
            INT16 => (0, 2),
            INT24 => (0, 3),
            INT32 => (0, 4),
            INT64 => (0, 8),
            IMM_MIN..=IMM_MAX => (0, 0),
            _ => return Err(Error::BadEncoding),
        },
    };
    let data = enc_pos + 1 + len_bytes;
    // u64: a 4 GB string length must not wrap (on 32-bit targets either).
    let next = data as u64 + data_len;
    if data > end || next > end as u64 {
        return Err(Error::Corrupt);
    }
    let next = next as usize;
    let element = match encoding {
        0..=0xBF => Element::Str(&blob[data..next]),
        IMM_MIN..=IMM_MAX => Element::Int((encoding & 0x0f) as i64 - 1),
        _ => Element::Int(read_int(&blob[data..next])),
    };
    Ok(Entry {
        prevlen,
        size: next - pos,
        element,
    })
}

/// Reads a ziplist: its entries in order.
///
/// Refused like `ziplistValidateIntegrity` refuses them (deep): a blob
/// shorter than the header and end byte, `zlbytes` other than the blob's
/// size, a last byte other than 0xFF, `zltail` past the end byte or (when
/// there are entries) other than the last entry's offset, an unknown entry
/// encoding, an entry reaching the end byte's position or beyond, a
/// `prevlen` other than the previous entry's size (0 for the first), an end
/// byte before the blob's end, and `zllen` other than the number of entries
/// unless it is 65535. Encodings Redis would not choose (a number stored as
/// a string, a small prevlen in the 5-byte form) are read as they are.
///
/// An empty ziplist decodes to no elements: Redis's loader then drops the
/// key (RESTORE answers "Bad data format"), which is the caller's call.
pub fn decode(blob: &[u8]) -> Result<Vec<Element<'_>>, Error> {
    if blob.len() < HEADER + 1 {
        return Err(Error::Truncated);
    }
    let zlbytes = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]);
    let zltail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]);
    let zllen = u16::from_le_bytes([blob[8], blob[9]]);
    let end = blob.len() - 1;
    if zlbytes as u64 != blob.len() as u64 || blob[end] != END || zltail as u64 > end as u64 {
        return Err(Error::Corrupt);
    }
    // Every entry takes 2 bytes at least: the count is checked against
    // the blob before it sizes anything.
    let mut elements = Vec::with_capacity((zllen as usize).min((end - HEADER) / 2));
    let mut pos = HEADER;
    let mut prev_size = 0;
    let mut last_entry = None;
    while blob[pos] != END {
        let entry = read_entry(blob, pos, end)?;
        if entry.prevlen != prev_size as u64 {
            return Err(Error::Corrupt);
        }
        elements.push(entry.element);
        last_entry = Some(pos);
        prev_size = entry.size;
        pos += entry.size;
    }
    if pos != end {
        return Err(Error::Corrupt);
    }
    if last_entry.is_some_and(|last| last as u64 != zltail as u64) {
        return Err(Error::Corrupt);
    }
    if zllen != COUNT_UNKNOWN && elements.len() != zllen as usize {
        return Err(Error::Corrupt);
    }
    Ok(elements)
}

/// A hash field or sorted-set member as Redis compares them when it loads
/// a ziplist: an integer entry equals the string of its decimal digits.
#[derive(PartialEq, Eq, Hash)]
enum FieldKey<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> From<Element<'a>> for FieldKey<'a> {
    fn from(e: Element<'a>) -> Self {
        match e {
            Element::Int(v) => FieldKey::Int(v),
            Element::Str(s) => canonical_i64(s).map_or(FieldKey::Bytes(s), FieldKey::Int),
        }
    }
}

/// Reads a ziplist of pairs: the field/value pairs of a hash (type 13)
/// or the member/score pairs of a sorted set (type 12), in order.
///
/// On top of [`decode`]'s checks, refused as Redis's loader refuses them
/// (`ziplistPairsConvertAndValidateIntegrity`): an odd number of entries,
/// or a field (member) twice, the integer entry 10 and the string "10"
/// counting as the same. Scores are not checked (Redis does not either).
/// No entries decode to no pairs (an empty key for Redis's loader).
pub fn decode_pairs(blob: &[u8]) -> Result<Vec<(Element<'_>, Element<'_>)>, Error> {
    let elements = decode(blob)?;
    if elements.len() % 2 != 0 {
        return Err(Error::Corrupt);
    }
    let mut seen = HashSet::with_capacity(elements.len() / 2);
    let mut pairs = Vec::with_capacity(elements.len() / 2);
    for pair in elements.chunks_exact(2) {
        if !seen.insert(FieldKey::from(pair[0])) {
            return Err(Error::Corrupt);
        }
        pairs.push((pair[0], pair[1]));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Blobs and the real server's verdicts, shared by the intset, ziplist
    /// and zipmap tests (each uses part of it).
    #[allow(dead_code)]
    mod golden {
        include!("../gen/old_encodings.rs");
    }
    use golden::{Server, BASES, MUTATIONS};

    const LIST_ZIPLIST: u8 = 10;
    const ZSET_ZIPLIST: u8 = 12;
    const HASH_ZIPLIST: u8 = 13;

    /// A ziplist around raw entry bodies (encoding and data), with the
    /// header and prevlens as Redis writes them.
    fn ziplist(bodies: &[&[u8]]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut tail = HEADER;
        let mut prev = 0usize;
        for body in bodies {
            tail = HEADER + entries.len();
            let start = entries.len();
            if prev < 254 {
                entries.push(prev as u8);
            } else {
                entries.push(BIG_PREVLEN);
                entries.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            entries.extend_from_slice(body);
            prev = entries.len() - start;
        }
        let mut zl = Vec::new();
        zl.extend_from_slice(&((HEADER + entries.len() + 1) as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&(bodies.len().min(0xFFFF) as u16).to_le_bytes());
        zl.extend_from_slice(&entries);
        zl.push(END);
        zl
    }

    /// The entry body Redis's ziplistPush writes for `s`.
    fn body_for(s: &[u8]) -> Vec<u8> {
        if (1..32).contains(&s.len()) {
            if let Some(v) = canonical_i64(s) {
                let mut b = Vec::new();
                match v {
                    0..=12 => b.push(IMM_MIN + v as u8),
                    _ if i8::try_from(v).is_ok() => b.extend_from_slice(&[INT8, v as u8]),
                    _ if i16::try_from(v).is_ok() => {
                        b.push(INT16);
                        b.extend_from_slice(&(v as i16).to_le_bytes());
                    }
                    -8_388_608..=8_388_607 => {
                        b.push(INT24);
                        b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                    }
                    _ if i32::try_from(v).is_ok() => {
                        b.push(INT32);
                        b.extend_from_slice(&(v as i32).to_le_bytes());
                    }
                    _ => {
                        b.push(INT64);
                        b.extend_from_slice(&v.to_le_bytes());
                    }
                }
                return b;
            }
        }
        let mut b = Vec::new();
        match s.len() {
            0..=0x3f => b.push(s.len() as u8),
            0x40..=0x3fff => b.extend_from_slice(&[0x40 | (s.len() >> 8) as u8, s.len() as u8]),
            _ => {
                b.push(0x80);
                b.extend_from_slice(&(s.len() as u32).to_be_bytes());
            }
        }
        b.extend_from_slice(s);
        b
    }

    fn bytes_of(elements: &[Element]) -> Vec<Vec<u8>> {
        elements.iter().map(Element::to_vec).collect()
    }

    /// Whether our reading of a blob of this type agrees with the server's.
    fn agrees(rdb_type: u8, blob: &[u8], server: &Server) -> bool {
        let flat: Option<Vec<Element>> = match rdb_type {
            LIST_ZIPLIST => decode(blob).ok(),
            _ => decode_pairs(blob)
                .ok()
                .map(|ps| ps.into_iter().flat_map(|(a, b)| [a, b]).collect()),
        };
        // Redis's loader drops an empty value: RESTORE refuses it.
        let ours = flat.filter(|es| !es.is_empty());
        match (ours, server) {
            (None, Server::Refused) => true,
            (Some(es), Server::Read(want)) if es.len() == want.len() => {
                es.iter().zip(want.iter()).enumerate().all(|(i, (e, w))| {
                    if rdb_type == ZSET_ZIPLIST && i % 2 == 1 {
                        same_score(e, w)
                    } else {
                        e.to_vec() == *w
                    }
                })
            }
            (Some(es), Server::Digest(n, d)) => {
                let step = if rdb_type == ZSET_ZIPLIST { 2 } else { 1 };
                let bytes = bytes_of(&es);
                es.len() == *n
                    && golden::digest(bytes.iter().step_by(step).map(Vec::as_slice)) == *d
            }
            _ => false,
        }
    }

    /// The server replies with scores reformatted from what its strtod
    /// read; a score Rust reads as a number must come back as that number.
    fn same_score(ours: &Element, server: &[u8]) -> bool {
        let theirs: f64 = std::str::from_utf8(server).unwrap().parse().unwrap();
        match ours {
            Element::Int(v) => *v as f64 == theirs,
            Element::Str(s) => match std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
            {
                Some(v) => v == theirs || (v.is_nan() && theirs.is_nan()),
                None => true,
            },
        }
    }

    fn is_ziplist_type(t: u8) -> bool {
        matches!(t, LIST_ZIPLIST | ZSET_ZIPLIST | HASH_ZIPLIST)
    }

    fn base(name: &str) -> &'static golden::Base {
        BASES.iter().find(|b| b.name == name).unwrap()
    }

    #[test]
    fn accepts_exactly_what_the_server_accepts() {
        let mut checked = (0, 0);
        for b in BASES.iter().filter(|b| is_ziplist_type(b.rdb_type)) {
            assert!(
                agrees(b.rdb_type, b.blob, &b.server),
                "{}: {:?}",
                b.name,
                decode(b.blob)
            );
            checked.0 += 1;
        }
        for (i, change, server) in MUTATIONS
            .iter()
            .filter(|m| is_ziplist_type(BASES[m.0].rdb_type))
        {
            let b = &BASES[*i];
            let blob = golden::damaged(b.blob, change);
            assert!(
                agrees(b.rdb_type, &blob, server),
                "{} {change:?}: {:?}",
                b.name,
                decode(&blob)
            );
            checked.1 += 1;
        }
        assert!(checked.0 > 80 && checked.1 > 800, "{checked:?}");
    }

    #[test]
    fn every_integer_encoding_and_boundary() {
        let want: Vec<i64> = (0..=13)
            .chain([-1, 127, 128, -128, -129, 32767, 32768, -32768, -32769])
            .chain([
                8388607,
                8388608,
                -8388608,
                -8388609,
                2147483647,
                2147483648,
                -2147483648,
                -2147483649,
            ])
            .chain([i64::MAX, i64::MIN])
            .collect();
        let got = decode(base("list-ints").blob).unwrap();
        assert_eq!(
            got,
            want.iter().map(|&v| Element::Int(v)).collect::<Vec<_>>()
        );

        // Each form by hand: encoding byte and data.
        let cases: &[(&[u8], i64)] = &[
            (&[0xF1], 0),
            (&[0xFD], 12),
            (&[INT8, 0x80], -128),
            (&[INT8, 0x7f], 127),
            (&[INT16, 0x00, 0x80], -32768),
            (&[INT16, 0xff, 0x7f], 32767),
            (&[INT24, 0x00, 0x00, 0x80], -8388608),
            (&[INT24, 0xff, 0xff, 0x7f], 8388607),
            (&[INT24, 0xff, 0xff, 0xff], -1),
            (&[INT32, 0x00, 0x00, 0x00, 0x80], i32::MIN as i64),
            (&[INT32, 0xff, 0xff, 0xff, 0x7f], i32::MAX as i64),
            (&[INT64, 0, 0, 0, 0, 0, 0, 0, 0x80], i64::MIN),
            (
                &[INT64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                i64::MAX,
            ),
            (&[INT64, 5, 0, 0, 0, 0, 0, 0, 0], 5),
        ];
        for (body, v) in cases {
            assert_eq!(
                decode(&ziplist(&[body])),
                Ok(vec![Element::Int(*v)]),
                "{body:x?}"
            );
        }
        // 0xF0 is int24, 0xFE int8, but the bytes around them are not codes.
        for bad in [0xC1, 0xCF, 0xD1, 0xE1, 0xEF, 0xFF] {
            let zl = ziplist(&[&[bad, 0, 0, 0, 0, 0, 0, 0, 0]]);
            assert!(decode(&zl).is_err(), "{bad:#x}");
        }
        assert_eq!(
            decode(&ziplist(&[&[0xC1, 0, 0, 0, 0, 0, 0, 0, 0]])),
            Err(Error::BadEncoding)
        );
    }

    #[test]
    fn every_string_length_form() {
        let es = decode(base("list-str14").blob).unwrap();
        let lens: Vec<usize> = es
            .iter()
            .map(|e| match e {
                Element::Str(s) => s.len(),
                Element::Int(_) => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(lens, [64, 253, 9, 254, 9, 16383, 11]);
        // The entries after the 254- and 16383-byte ones carry 5-byte prevlens.
        let blob = base("list-str14").blob;
        for prevlen in [256u32, 257, 16386] {
            let form = [&[BIG_PREVLEN][..], &prevlen.to_le_bytes()].concat();
            assert_eq!(
                blob.windows(5).filter(|w| *w == form).count(),
                1,
                "{prevlen}"
            );
        }

        let es = decode(base("list-str32").blob).unwrap();
        assert!(
            matches!(es[1], Element::Str(s) if s.len() == 16400 && s.starts_with(b"ferrocache-00000|"))
        );
        assert_eq!(
            (es[0], es[2], es[3]),
            (
                Element::Str(b"head"),
                Element::Str(b"tail"),
                Element::Int(5)
            )
        );

        let mixed = decode(base("list-mixed").blob).unwrap();
        assert_eq!(
            bytes_of(&mixed)[..7],
            [&b"a"[..], b"hello", b"", b"-0", b"007", b"12", b"3.5"]
        );
        assert!(matches!(mixed[2], Element::Str(b"")) && matches!(mixed[5], Element::Int(12)));

        // By hand: each form, including non-minimal ones Redis reads anyway.
        let s14 = [&[0x40, 0x03][..], b"abc"].concat();
        let s32 = [&[0x80, 0, 0, 0, 3][..], b"abc"].concat();
        let s32_dirty = [&[0xBF, 0, 0, 0, 3][..], b"abc"].concat();
        for body in [&[&[0x03][..], b"abc"].concat(), &s14, &s32, &s32_dirty] {
            assert_eq!(
                decode(&ziplist(&[body])),
                Ok(vec![Element::Str(b"abc")]),
                "{body:x?}"
            );
        }
    }

    #[test]
    fn prevlen_forms() {
        // A small prevlen in the 5-byte form is read (Redis leaves these
        // behind when it avoids cascading updates).
        assert_eq!(
            bytes_of(&decode(base("list-big-prevlen").blob).unwrap()),
            [b"a", b"b", b"c"]
        );
        let long = vec![b'x'; 300];
        let zl = ziplist(&[&body_for(&long), &body_for(b"7"), &body_for(b"y")]);
        assert_eq!(zl[HEADER + 303], BIG_PREVLEN);
        assert_eq!(
            decode(&zl),
            Ok(vec![
                Element::Str(&long),
                Element::Int(7),
                Element::Str(b"y")
            ])
        );
        // The same value in the wrong prevlen is refused.
        let mut bad = zl.clone();
        bad[HEADER + 304] ^= 1;
        assert_eq!(decode(&bad), Err(Error::Corrupt));
    }

    #[test]
    fn header_checks() {
        let zl = ziplist(&[b"\x01a", b"\x01b"]);
        assert_eq!(decode(&zl).unwrap().len(), 2);
        assert_eq!(decode(&zl[..HEADER]), Err(Error::Truncated));
        let patched = |pos: usize, bytes: &[u8]| {
            let mut b = zl.clone();
            b[pos..pos + bytes.len()].copy_from_slice(bytes);
            decode(&b).map(|es| es.len())
        };
        assert_eq!(
            patched(8, &[0xff, 0xff]),
            Ok(2),
            "zllen 65535: count by walking"
        );
        assert_eq!(patched(8, &[3, 0]), Err(Error::Corrupt), "zllen");
        assert_eq!(
            patched(4, &[10, 0, 0, 0]),
            Err(Error::Corrupt),
            "zltail at the first entry"
        );
        assert_eq!(
            patched(0, &[0xff, 0xff, 0xff, 0x7f]),
            Err(Error::Corrupt),
            "zlbytes"
        );
        assert_eq!(patched(zl.len() - 1, &[0]), Err(Error::Corrupt), "end byte");
        assert_eq!(patched(13, &[END]), Err(Error::Corrupt), "end byte inside");
        // Empty: no entries, zltail anywhere up to the end byte.
        assert_eq!(decode(base("list-empty").blob), Ok(vec![]));
        assert_eq!(decode(base("list-empty-odd-tail").blob), Ok(vec![]));
        // A 2 GB string in a 20-byte blob fails on the bounds, at once.
        assert_eq!(decode(base("list-str32-huge").blob), Err(Error::Corrupt));
    }

    #[test]
    fn pairs_as_the_loader_checks_them() {
        let hash = decode_pairs(base("hash").blob).unwrap();
        assert_eq!(hash[1], (Element::Str(b"age"), Element::Int(7)));
        assert_eq!(hash[2], (Element::Int(1), Element::Str(b"one")));
        assert_eq!(decode_pairs(base("hash-dup").blob), Err(Error::Corrupt));
        assert_eq!(
            decode_pairs(base("hash-dup-int-form").blob),
            Err(Error::Corrupt)
        );
        assert_eq!(
            decode_pairs(base("hash-dup-in-values").blob).unwrap().len(),
            2
        );
        assert_eq!(decode_pairs(base("hash-odd").blob), Err(Error::Corrupt));
        assert_eq!(decode_pairs(base("hash-empty").blob), Ok(vec![]));
        let zset = decode_pairs(base("zset").blob).unwrap();
        assert_eq!(zset[0], (Element::Str(b"d"), Element::Str(b"-3.25")));
        assert_eq!(zset[4], (Element::Str(b"e"), Element::Int(10_000_000_000)));
        assert_eq!(decode_pairs(base("zset-dup").blob), Err(Error::Corrupt));
        // Only fields count: a field's twin among the values is fine.
        let zl = ziplist(&[b"\x011", &[IMM_MIN + 1], &[IMM_MIN + 1], b"\x011"]);
        assert_eq!(decode_pairs(&zl), Err(Error::Corrupt));
        let zl = ziplist(&[b"\x011", &[IMM_MIN + 2], &[IMM_MIN + 2], b"\x011"]);
        assert_eq!(decode_pairs(&zl).unwrap().len(), 2);
    }

    #[test]
    fn every_damage_is_refused_or_read_cleanly() {
        for b in BASES
            .iter()
            .filter(|b| is_ziplist_type(b.rdb_type) && !matches!(b.server, Server::Refused))
        {
            let blob = b.blob;
            for n in 0..blob.len() {
                assert!(decode(&blob[..n]).is_err(), "{} cut to {n}", b.name);
            }
            // Every mask at every position for the small blobs; the 16 KB
            // ones get the positions near their entry headers.
            let masks: Vec<u8> = if blob.len() <= 512 {
                (1..=255).collect()
            } else {
                vec![0x01, 0x40, 0x80, 0xff]
            };
            let positions: Vec<usize> = if blob.len() <= 512 {
                (0..blob.len()).collect()
            } else {
                (0..blob.len())
                    .filter(|p| p % 97 == 0 || *p < 64 || blob.len() - p < 64)
                    .collect()
            };
            for &pos in &positions {
                for &mask in &masks {
                    let mut bad = blob.to_vec();
                    bad[pos] ^= mask;
                    if let Ok(es) = decode(&bad) {
                        let data: usize = es
                            .iter()
                            .map(|e| if let Element::Str(s) = e { s.len() } else { 0 })
                            .sum();
                        assert!(data < bad.len(), "{} flip {pos} {mask:#x}", b.name);
                    }
                    let _ = decode_pairs(&bad);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&blob);
            let _ = decode_pairs(&blob);
        }

        /// Random entries in a well-formed frame get past the header checks.
        #[test]
        fn framed_random_entries_never_panic(
            middle in proptest::collection::vec(prop_oneof![any::<u8>(), Just(0u8), Just(1), Just(0xFE), Just(0xF1), Just(0x40), Just(0x80)], 0..40),
            tail in any::<u8>(),
            count in prop_oneof![Just(0xFFFFu16), 0u16..6],
        ) {
            let mut blob = ((HEADER + middle.len() + 1) as u32).to_le_bytes().to_vec();
            blob.extend_from_slice(&(HEADER as u32 + tail as u32 % (middle.len() as u32 + 1)).to_le_bytes());
            blob.extend_from_slice(&count.to_le_bytes());
            blob.extend_from_slice(&middle);
            blob.push(END);
            let _ = decode(&blob);
            let _ = decode_pairs(&blob);
        }

        /// What Redis's push writes reads back as the same elements.
        #[test]
        fn redis_layout_round_trip(items in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-300i64..300).prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..80),
            (0usize..3).prop_map(|k| vec![b'z'; [253, 254, 16_384][k]]),
        ], 0..12)) {
            let bodies: Vec<Vec<u8>> = items.iter().map(|s| body_for(s)).collect();
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            let zl = ziplist(&refs);
            let got = decode(&zl).unwrap();
            prop_assert_eq!(bytes_of(&got), items);
        }
    }
}
