//! The footer of a DUMP payload (DUMP / RESTORE, FUNCTION DUMP / FUNCTION
//! RESTORE): the RDB version in 2 bytes and the CRC64 of everything before
//! it in 8, both little-endian.

use crate::{crc64, RDB_VERSION};

/// Appends the footer to `payload`.
pub fn seal(payload: &mut Vec<u8>) {
    payload.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, payload);
    payload.extend_from_slice(&crc.to_le_bytes());
}

/// Checks a payload's footer as Redis's `verifyDumpPayload` does (a
/// version this side knows, a matching checksum) and returns the body
/// before the footer and the version.
pub fn open(payload: &[u8]) -> Option<(&[u8], u16)> {
    if payload.len() < 10 {
        return None;
    }
    let footer = payload.len() - 10;
    let version = u16::from_le_bytes([payload[footer], payload[footer + 1]]);
    if version > RDB_VERSION {
        return None;
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[footer + 2..]);
    (crc64(0, &payload[..footer + 2]) == u64::from_le_bytes(crc))
        .then_some((&payload[..footer], version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_string_dump_verifies() {
        // redis-server 7.0.15: SET k <60 times 'a'>; DUMP k.
        let payload: &[u8] = b"\x00\xc3\t<\x01aa\xe0/\x00\x01aa\n\x00\xa6~\x08\xb2\x17\xd0\x97\x80";
        let (body, version) = open(payload).expect("valid");
        assert_eq!(version, 10);
        assert_eq!(body, b"\x00\xc3\t<\x01aa\xe0/\x00\x01aa");
        let mut again = body.to_vec();
        seal(&mut again);
        assert_eq!(again, payload);
    }

    #[test]
    fn rejects_damage() {
        let mut p = b"\xf5\x05hello".to_vec();
        seal(&mut p);
        assert!(open(&p).is_some());
        for i in 0..p.len() {
            let mut bad = p.clone();
            bad[i] ^= 1;
            assert!(open(&bad).is_none(), "flipped byte {i}");
        }
        assert!(open(b"bad_payload").is_none());
        assert!(open(b"short").is_none());
        // A newer RDB version is refused even with a right checksum.
        let mut newer = b"\xf5\x05hello".to_vec();
        newer.extend_from_slice(&(RDB_VERSION + 1).to_le_bytes());
        let crc = crc64(0, &newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert!(open(&newer).is_none());
    }
}
