//! Redis's intset byte format (intset.c), as RDB files and DUMP payloads
//! carry small all-integer sets (object type 11).
//!
//! ```text
//! encoding: u32 LE (2, 4 or 8: bytes per value) | length: u32 LE
//! values: length × encoding bytes, little-endian, strictly ascending
//! ```
//!
//! Every value takes the width of the widest one: Redis upgrades the whole
//! set when a member does not fit. The decoder validates a blob as
//! `intsetValidateIntegrity` does with deep checks before reading it.

use crate::Error;

const HEADER: usize = 8;

/// The narrowest encoding that holds `v` (`_intsetValueEncoding`).
fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// A little-endian signed value of 2, 4 or 8 bytes.
fn read_value(bytes: &[u8]) -> i64 {
    let mut wide = [0u8; 8];
    wide[..bytes.len()].copy_from_slice(bytes);
    // Shifting up then back (arithmetic) sign-extends the narrow value.
    let unused = 64 - 8 * bytes.len() as u32;
    (i64::from_le_bytes(wide) << unused) >> unused
}

/// Reads an intset: its members in ascending order.
///
/// Refused like Redis refuses them: a header that does not fit, an
/// encoding other than 2, 4 or 8, a size other than exactly the header and
/// `length` values, an empty set, and values that are not strictly
/// ascending (duplicates included; Redis checks the order only under
/// `sanitize-dump-payload yes`, this side always does). A value stored
/// wider than it needs is accepted (Redis never narrows a set).
pub fn decode(blob: &[u8]) -> Result<Vec<i64>, Error> {
    let header = blob.get(..HEADER).ok_or(Error::Truncated)?;
    let encoding = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let width = match encoding {
        2 | 4 | 8 => encoding as usize,
        _ => return Err(Error::BadEncoding),
    };
    // Checked against the blob before anything is allocated: the contents
    // must be exactly `length` values (u64 arithmetic: no wrap-around).
    if (HEADER as u64 + length as u64 * width as u64) != blob.len() as u64 {
        return Err(Error::Corrupt);
    }
    if length == 0 {
        return Err(Error::Corrupt);
    }
    let mut values = Vec::with_capacity(length as usize);
    for chunk in blob[HEADER..].chunks_exact(width) {
        let v = read_value(chunk);
        if values.last().is_some_and(|&prev| v <= prev) {
            return Err(Error::Corrupt);
        }
        values.push(v);
    }
    Ok(values)
}

/// Writes the intset Redis holds for these members: the narrowest encoding
/// that fits them all. `sorted_unique` must be strictly ascending (an
/// empty slice gives Redis's empty intset, which `decode` refuses as RDB
/// loading does).
pub fn encode(sorted_unique: &[i64]) -> Vec<u8> {
    debug_assert!(
        sorted_unique.windows(2).all(|w| w[0] < w[1]),
        "intset members must be strictly ascending"
    );
    let width = sorted_unique
        .iter()
        .map(|&v| width_of(v))
        .max()
        .unwrap_or(2);
    let mut out = Vec::with_capacity(HEADER + width * sorted_unique.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted_unique.len() as u32).to_le_bytes());
    for &v in sorted_unique {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dump, encoding};
    use proptest::prelude::*;

    /// Blobs and the real server's verdicts, shared by the intset, ziplist
    /// and zipmap tests (each uses part of it).
    #[allow(dead_code)]
    mod golden {
        include!("../gen/old_encodings.rs");
    }
    use golden::{Server, BASES, MUTATIONS};

    const SET_INTSET: u8 = 11;

    /// What `decode` makes of a blob, in the server's terms: the members
    /// in decimal, or None when it refuses the blob.
    fn decoded(blob: &[u8]) -> Option<Vec<Vec<u8>>> {
        decode(blob)
            .ok()
            .map(|vs| vs.iter().map(|v| v.to_string().into_bytes()).collect())
    }

    fn agrees(ours: &Option<Vec<Vec<u8>>>, server: &Server) -> bool {
        match (ours, server) {
            (None, Server::Refused) => true,
            (Some(got), Server::Read(want)) => {
                got.iter().map(Vec::as_slice).eq(want.iter().copied())
            }
            (Some(got), Server::Digest(n, d)) => {
                got.len() == *n && golden::digest(got.iter().map(Vec::as_slice)) == *d
            }
            _ => false,
        }
    }

    #[test]
    fn server_dumps_decode_and_encode_back_byte_for_byte() {
        let mut seen = 0;
        for base in BASES.iter().filter(|b| b.dump.is_some()) {
            let payload = base.dump.unwrap();
            // The payload as the server wrote it: type 11, the raw intset.
            let (body, version) = dump::open(payload).expect("server DUMP verifies");
            assert_eq!((body[0], version), (SET_INTSET, 10), "{}", base.name);
            let mut pos = 1;
            let blob = encoding::read_string(body, &mut pos).unwrap();
            assert_eq!(blob, base.blob, "{}", base.name);

            let values = decode(&blob).unwrap_or_else(|e| panic!("{}: {e}", base.name));
            assert!(
                agrees(&decoded(&blob), &base.server),
                "{}: {values:?}",
                base.name
            );
            assert_eq!(encode(&values), blob, "{}: encode", base.name);
            // And the whole DUMP payload comes out as the server's.
            let mut again = vec![SET_INTSET];
            encoding::write_string(&mut again, &encode(&values), false);
            dump::seal(&mut again);
            assert_eq!(again, payload, "{}: payload", base.name);
            seen += 1;
        }
        assert_eq!(seen, 7);
    }

    #[test]
    fn golden_widths_and_values() {
        let by_name = |name: &str| BASES.iter().find(|b| b.name == name).unwrap().blob;
        assert_eq!(
            decode(by_name("intset16-edges")),
            Ok(vec![-32768, -5, 0, 32767])
        );
        assert_eq!(by_name("intset16-edges")[0], 2);
        assert_eq!(decode(by_name("intset32")), Ok(vec![1, 32768]));
        assert_eq!(by_name("intset32")[0], 4);
        assert_eq!(
            decode(by_name("intset32-edges")),
            Ok(vec![i32::MIN as i64, -32769, 7, i32::MAX as i64])
        );
        assert_eq!(decode(by_name("intset64")), Ok(vec![-1, 2147483648]));
        assert_eq!(by_name("intset64")[0], 8);
        assert_eq!(
            decode(by_name("intset64-edges")),
            Ok(vec![i64::MIN, -2147483649, 0, i64::MAX])
        );
        // Wider than needed: loaded as it is, but Redis would write it narrow.
        assert_eq!(decode(by_name("intset-wide-small")), Ok(vec![1, 2]));
        assert_eq!(encode(&[1, 2])[0], 2);
    }

    #[test]
    fn accepts_exactly_what_the_server_accepts() {
        let mut checked = 0;
        for base in BASES.iter().filter(|b| b.rdb_type == SET_INTSET) {
            assert!(
                agrees(&decoded(base.blob), &base.server),
                "{}: {:?}",
                base.name,
                decode(base.blob)
            );
            checked += 1;
        }
        for (i, change, server) in MUTATIONS
            .iter()
            .filter(|m| BASES[m.0].rdb_type == SET_INTSET)
        {
            let blob = golden::damaged(BASES[*i].blob, change);
            assert!(
                agrees(&decoded(&blob), server),
                "{} {change:?}: {:?}",
                BASES[*i].name,
                decode(&blob)
            );
            checked += 1;
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            decode(b"\x02\x00\x00\x00\x01\x00\x00"),
            Err(Error::Truncated)
        );
        assert_eq!(
            decode(b"\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00"),
            Err(Error::BadEncoding)
        );
        assert_eq!(
            decode(b"\x02\x00\x00\x00\x00\x00\x00\x00"),
            Err(Error::Corrupt)
        );
        assert_eq!(
            decode(b"\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x01\x00"),
            Err(Error::Corrupt)
        );
        assert_eq!(
            decode(b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x01\x00"),
            Err(Error::Corrupt)
        );
        // A 4-billion-value length in a 20-byte blob fails on the size check.
        assert_eq!(
            decode(
                b"\x08\x00\x00\x00\xff\xff\xff\xff\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00"
            ),
            Err(Error::Corrupt)
        );
        // 2^29 + 1 values of 8 bytes: 2^32 + 8 bytes, which wraps to 8 in u32.
        assert_eq!(
            decode(b"\x08\x00\x00\x00\x01\x00\x00\x20\x05\x05\x05\x05\x05\x05\x05\x05"),
            Err(Error::Corrupt)
        );
    }

    #[test]
    fn every_damage_is_refused_or_read_cleanly() {
        for base in BASES
            .iter()
            .filter(|b| b.rdb_type == SET_INTSET && b.dump.is_some())
        {
            let blob = base.blob;
            for n in 0..blob.len() {
                assert!(decode(&blob[..n]).is_err(), "{} cut to {n}", base.name);
            }
            for pos in 0..blob.len() {
                for mask in 1..=255u8 {
                    let mut bad = blob.to_vec();
                    bad[pos] ^= mask;
                    if let Ok(values) = decode(&bad) {
                        assert!(values.windows(2).all(|w| w[0] < w[1]));
                        assert_eq!(bad.len(), HEADER + values.len() * bad[0] as usize);
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
        fn framed_random_values_never_panic(width in prop_oneof![Just(2u32), Just(4), Just(8)], body in proptest::collection::vec(any::<u8>(), 0..48)) {
            let mut blob = width.to_le_bytes().to_vec();
            blob.extend_from_slice(&((body.len() / width as usize) as u32).to_le_bytes());
            blob.extend_from_slice(&body);
            if let Ok(values) = decode(&blob) {
                prop_assert!(values.windows(2).all(|w| w[0] < w[1]));
            }
        }

        #[test]
        fn encode_decode_round_trip(mut values in proptest::collection::vec(any::<i64>(), 1..40), narrow in any::<bool>()) {
            if narrow {
                for v in &mut values {
                    *v %= 40_000;
                }
            }
            values.sort_unstable();
            values.dedup();
            let blob = encode(&values);
            let widest = values.iter().map(|&v| width_of(v)).max().unwrap();
            prop_assert_eq!(blob[0] as usize, widest);
            prop_assert_eq!(decode(&blob), Ok(values));
        }
    }
}
