//! Redis's zipmap byte format (zipmap.c), as RDB files from before Redis
//! 2.6 carry small hashes (object type 9). Redis 7 still loads them (it
//! converts them on load), so this side only reads them.
//!
//! ```text
//! zmlen: 1 byte (the pair count; 254: count by walking)
//! pairs: len | field | len | free: 1 byte | value | free unused bytes
//! 0xFF
//! ```
//!
//! A length is 1 byte up to 253, else 0xFE and a u32 little-endian. The
//! decoder validates a blob as `zipmapValidateIntegrity` does with deep
//! checks, plus the duplicate-field check of Redis's RDB loader, and
//! borrows every field and value from it.

use std::collections::HashSet;

use crate::Error;

const END: u8 = 0xFF;
/// A length byte this large announces the 4-byte form; as the pair count,
/// "too many to count here".
const BIGLEN: u8 = 0xFE;

/// A field and its value, borrowed from the zipmap.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Reads the length at `pos` (`zipmapDecodeLength`): `(length, the bytes
/// after it)`. Its bytes must end before `end`, the last byte's position.
fn read_len(blob: &[u8], pos: usize, end: usize) -> Result<(u64, usize), Error> {
    // 0xFF where a value's length goes also reads as the 4-byte form.
    let size = if blob[pos] < BIGLEN { 1 } else { 5 };
    if pos + size > end {
        return Err(Error::Corrupt);
    }
    if size == 1 {
        return Ok((blob[pos] as u64, pos + 1));
    }
    let len =
        u32::from_le_bytes([blob[pos + 1], blob[pos + 2], blob[pos + 3], blob[pos + 4]]) as u64;
    // Redis refuses a short length in the long form.
    if len < BIGLEN as u64 {
        return Err(Error::Corrupt);
    }
    Ok((len, pos + 5))
}

/// `len` bytes at `start` that must end at or before `end`.
fn take(blob: &[u8], start: usize, len: u64, end: usize) -> Result<&[u8], Error> {
    // u64: a 4 GB length must not wrap (on 32-bit targets either).
    if start as u64 + len > end as u64 {
        return Err(Error::Corrupt);
    }
    Ok(&blob[start..start + len as usize])
}

/// Reads a zipmap: its field/value pairs in order.
///
/// Refused as Redis's loader refuses them: a blob shorter than 2 bytes or
/// not ending in 0xFF, a length or string reaching the last byte or beyond,
/// a length under 254 in the 5-byte form, no pairs, `zmlen` other than the
/// pair count unless it is 254, and a field twice (the check Redis's RDB
/// loader adds). As in Redis, the walk stops at the first 0xFF where a
/// field's length would be: bytes between it and the last byte are not
/// read, and the free bytes after a value may hold anything.
pub fn decode(blob: &[u8]) -> Result<Vec<Pair<'_>>, Error> {
    if blob.len() < 2 {
        return Err(Error::Truncated);
    }
    let end = blob.len() - 1;
    if blob[end] != END {
        return Err(Error::Corrupt);
    }
    // Every pair takes 3 bytes at least (two lengths and the free count).
    let mut pairs = Vec::with_capacity((blob[0] as usize).min(blob.len() / 3));
    let mut pos = 1;
    while blob[pos] != END {
        let (field_len, field_start) = read_len(blob, pos, end)?;
        let field = take(blob, field_start, field_len, end)?;
        let (value_len, free_pos) = read_len(blob, field_start + field.len(), end)?;
        let free = blob[free_pos] as u64;
        let value = take(blob, free_pos + 1, value_len, end)?;
        take(blob, free_pos + 1 + value.len(), free, end)?;
        pairs.push((field, value));
        pos = free_pos + 1 + value.len() + free as usize;
    }
    if pairs.is_empty() {
        return Err(Error::Corrupt);
    }
    // As in C: a count byte of 255 is compared like any other.
    if blob[0] != BIGLEN && blob[0] as usize != pairs.len() {
        return Err(Error::Corrupt);
    }
    let mut fields = HashSet::with_capacity(pairs.len());
    if !pairs.iter().all(|(field, _)| fields.insert(*field)) {
        return Err(Error::Corrupt);
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

    const ZIPMAP: u8 = 9;

    fn agrees(blob: &[u8], server: &Server) -> bool {
        let flat: Option<Vec<&[u8]>> = decode(blob)
            .ok()
            .map(|ps| ps.into_iter().flat_map(|(f, v)| [f, v]).collect());
        match (flat, server) {
            (None, Server::Refused) => true,
            (Some(got), Server::Read(want)) => got == *want,
            (Some(got), Server::Digest(n, d)) => got.len() == *n && golden::digest(got) == *d,
            _ => false,
        }
    }

    fn base(name: &str) -> &'static [u8] {
        BASES.iter().find(|b| b.name == name).unwrap().blob
    }

    /// A zipmap as Redis 2.4 wrote it, with `free` spare bytes per value.
    fn zipmap(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
        let mut zm = vec![pairs.len().min(BIGLEN as usize) as u8];
        let len = |zm: &mut Vec<u8>, n: usize| {
            if n < BIGLEN as usize {
                zm.push(n as u8);
            } else {
                zm.push(BIGLEN);
                zm.extend_from_slice(&(n as u32).to_le_bytes());
            }
        };
        for (f, v) in pairs {
            len(&mut zm, f.len());
            zm.extend_from_slice(f);
            len(&mut zm, v.len());
            zm.push(free);
            zm.extend_from_slice(v);
            zm.extend(std::iter::repeat_n(0, free as usize));
        }
        zm.push(END);
        zm
    }

    #[test]
    fn accepts_exactly_what_the_server_accepts() {
        let mut checked = (0, 0);
        for b in BASES.iter().filter(|b| b.rdb_type == ZIPMAP) {
            assert!(
                agrees(b.blob, &b.server),
                "{}: {:?}",
                b.name,
                decode(b.blob)
            );
            checked.0 += 1;
        }
        for (i, change, server) in MUTATIONS.iter().filter(|m| BASES[m.0].rdb_type == ZIPMAP) {
            let blob = golden::damaged(BASES[*i].blob, change);
            assert!(
                agrees(&blob, server),
                "{} {change:?}: {:?}",
                BASES[*i].name,
                decode(&blob)
            );
            checked.1 += 1;
        }
        assert!(checked.0 > 50 && checked.1 > 100, "{checked:?}");
    }

    #[test]
    fn golden_pairs() {
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"k1", b"v1"), (b"key2", b"value2"), (b"", b"")];
        assert_eq!(decode(base("zipmap")), Ok(pairs.clone()));
        assert_eq!(zipmap(&pairs, 0), base("zipmap"));
        assert_eq!(
            decode(base("zipmap-free")),
            Ok(vec![(&b"k"[..], &b"v"[..]), (b"kk", b"vv")])
        );
        // 253 bytes take the short length, 254 the long one.
        let long = decode(base("zipmap-253-254")).unwrap();
        assert_eq!(
            long.iter()
                .map(|(f, v)| (f.len(), v.len()))
                .collect::<Vec<_>>(),
            [(253, 1), (254, 300), (1, 254)]
        );
        assert_eq!(base("zipmap-253-254")[1], 253);
        assert_eq!(decode(base("zipmap-254-entries")).unwrap().len(), 254);
        assert_eq!(decode(base("zipmap-255-entries-255")).unwrap().len(), 255);
        assert_eq!(decode(base("zipmap-len-unknown")).unwrap().len(), 2);
        assert_eq!(
            decode(base("zipmap-bytes-after-end")),
            Ok(vec![(&b"a"[..], &b"v"[..])])
        );
        assert_eq!(
            decode(base("zipmap-value-len-255")).unwrap()[0].1.len(),
            300
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(decode(b""), Err(Error::Truncated));
        assert_eq!(decode(b"\xff"), Err(Error::Truncated));
        for name in [
            "zipmap-empty",
            "zipmap-dup",
            "zipmap-zmlen-wrong",
            "zipmap-zmlen-255",
            "zipmap-big-len-small",
            "zipmap-value-len-255-small",
            "zipmap-past-end",
            "zipmap-no-end",
            "zipmap-free-past-end",
            "zipmap-value-wraps",
        ] {
            assert_eq!(decode(base(name)), Err(Error::Corrupt), "{name}");
        }
        // A 2 GB field length in a short blob fails on the bounds, at once.
        assert_eq!(
            decode(b"\x01\xfe\x00\x00\x00\x80a\x01\x00v\xff"),
            Err(Error::Corrupt)
        );
    }

    #[test]
    fn every_damage_is_refused_or_read_cleanly() {
        let blobs = [
            base("zipmap"),
            base("zipmap-free"),
            base("zipmap-253-254"),
            base("zipmap-len-unknown"),
        ];
        for blob in blobs {
            for n in 0..blob.len() {
                let _ = decode(&blob[..n]);
            }
            let masks: Vec<u8> = if blob.len() <= 128 {
                (1..=255).collect()
            } else {
                vec![0x01, 0x02, 0x80, 0xff]
            };
            for pos in 0..blob.len() {
                for &mask in &masks {
                    let mut bad = blob.to_vec();
                    bad[pos] ^= mask;
                    if let Ok(pairs) = decode(&bad) {
                        let data: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
                        assert!(data < bad.len());
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&blob);
        }

        #[test]
        fn framed_random_pairs_never_panic(
            count in prop_oneof![0u8..5, Just(BIGLEN), Just(END)],
            middle in proptest::collection::vec(prop_oneof![any::<u8>(), 0u8..4, Just(BIGLEN), Just(END)], 0..40),
        ) {
            let mut blob = vec![count];
            blob.extend_from_slice(&middle);
            blob.push(END);
            let _ = decode(&blob);
        }

        #[test]
        fn round_trip(
            fields in proptest::collection::hash_set(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            value_lens in proptest::collection::vec(0usize..400, 8),
            free in 0u8..5,
        ) {
            let values: Vec<Vec<u8>> = value_lens.iter().map(|&n| vec![b'v'; n]).collect();
            let pairs: Vec<(&[u8], &[u8])> = fields.iter().zip(&values).map(|(f, v)| (f.as_slice(), v.as_slice())).collect();
            let zm = zipmap(&pairs, free);
            prop_assert_eq!(decode(&zm), Ok(pairs));
        }
    }
}
