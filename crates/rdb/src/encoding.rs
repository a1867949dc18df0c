//! RDB length and string encodings, as Redis's `rdbSaveLen`,
//! `rdbSaveRawString`, `rdbLoadLen` and `rdbGenericLoadStringObject`.
//!
//! A length takes 1, 2, 5 or 9 bytes (6-bit, 14-bit, 32-bit and 64-bit
//! forms, big-endian). A string is a length and its bytes, or one of the
//! special encodings: an integer in 1, 2 or 4 bytes (little-endian), or an
//! LZF-compressed blob (compressed length, original length, data).

use crate::{lzf, Error};

const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
const ENCVAL: u8 = 3;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Appends `len` in the shortest length form.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8 | (LEN_6BIT << 6));
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | (LEN_14BIT << 6));
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], Error> {
    let end = pos.checked_add(n).ok_or(Error::Truncated)?;
    let bytes = buf.get(*pos..end).ok_or(Error::Truncated)?;
    *pos = end;
    Ok(bytes)
}

/// Reads a length at `*pos`: `(value, encoded)`. When `encoded` is true
/// the value is a special string encoding (`ENC_*`), not a length.
pub fn read_len(buf: &[u8], pos: &mut usize) -> Result<(u64, bool), Error> {
    let first = take(buf, pos, 1)?[0];
    match first >> 6 {
        ENCVAL => Ok(((first & 0x3f) as u64, true)),
        LEN_6BIT => Ok(((first & 0x3f) as u64, false)),
        LEN_14BIT => {
            let second = take(buf, pos, 1)?[0];
            Ok(((((first & 0x3f) as u64) << 8) | second as u64, false))
        }
        _ if first == LEN_32BIT => {
            let b = take(buf, pos, 4)?;
            Ok((u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64, false))
        }
        _ if first == LEN_64BIT => {
            let b = take(buf, pos, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok((u64::from_be_bytes(a), false))
        }
        _ => Err(Error::BadEncoding),
    }
}

/// Redis's `string2ll`: the canonical decimal form of an i64 only (no
/// sign but '-', no leading zeros, no "-0").
pub(crate) fn canonical_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    if digits == b"0" && !neg {
        return Some(0);
    }
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    if neg {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Redis's `rdbEncodeInteger`: the integer encodings of `v`, if it fits.
fn encode_integer(v: i64, out: &mut Vec<u8>) -> bool {
    let tag = ENCVAL << 6;
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[tag | ENC_INT8, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(tag | ENC_INT16);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(tag | ENC_INT32);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends `s` as `rdbSaveRawString` does: as an integer when it is one
/// (11 bytes at most), LZF-compressed when `compression` is on, it is over
/// 20 bytes and compression saves more than 4 bytes, verbatim otherwise.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compression: bool) {
    if s.len() <= 11 {
        if let Some(v) = canonical_i64(s) {
            if encode_integer(v, out) {
                return;
            }
        }
    }
    if compression && s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push((ENCVAL << 6) | ENC_LZF);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Reads a string at `*pos` in any of its encodings (integers come back in
/// decimal, LZF strings decompressed).
pub fn read_string(buf: &[u8], pos: &mut usize) -> Result<Vec<u8>, Error> {
    let (len, encoded) = read_len(buf, pos)?;
    if !encoded {
        let n = usize::try_from(len).map_err(|_| Error::Truncated)?;
        return Ok(take(buf, pos, n)?.to_vec());
    }
    let value: i64 = match len as u8 {
        ENC_INT8 => take(buf, pos, 1)?[0] as i8 as i64,
        ENC_INT16 => {
            let b = take(buf, pos, 2)?;
            i16::from_le_bytes([b[0], b[1]]) as i64
        }
        ENC_INT32 => {
            let b = take(buf, pos, 4)?;
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
        }
        ENC_LZF => {
            let (clen, _) = read_len(buf, pos)?;
            let (ulen, _) = read_len(buf, pos)?;
            let clen = usize::try_from(clen).map_err(|_| Error::Truncated)?;
            let ulen = usize::try_from(ulen).map_err(|_| Error::BadLzf)?;
            let data = take(buf, pos, clen)?;
            return lzf::decompress(data, ulen).ok_or(Error::BadLzf);
        }
        _ => return Err(Error::BadEncoding),
    };
    Ok(value.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc_len(n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        write_len(&mut v, n);
        v
    }

    #[test]
    fn lengths() {
        assert_eq!(enc_len(10), [0x0a]);
        assert_eq!(enc_len(63), [0x3f]);
        assert_eq!(enc_len(64), [0x40, 0x40]);
        assert_eq!(enc_len(16383), [0x7f, 0xff]);
        assert_eq!(enc_len(16384), [0x80, 0, 0, 0x40, 0]);
        assert_eq!(enc_len(1 << 32), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
        for n in [
            0,
            1,
            63,
            64,
            300,
            16383,
            16384,
            70000,
            u32::MAX as u64,
            1 << 40,
        ] {
            let v = enc_len(n);
            let mut pos = 0;
            assert_eq!(read_len(&v, &mut pos), Ok((n, false)));
            assert_eq!(pos, v.len());
        }
        assert_eq!(read_len(&[0x40], &mut 0), Err(Error::Truncated));
        assert_eq!(read_len(&[0x82], &mut 0), Err(Error::BadEncoding));
    }

    fn enc_str(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        write_string(&mut v, s, true);
        v
    }

    #[test]
    fn integers_as_redis_encodes_them() {
        assert_eq!(enc_str(b"0"), [0xc0, 0]);
        assert_eq!(enc_str(b"-128"), [0xc0, 0x80]);
        assert_eq!(enc_str(b"300"), [0xc1, 0x2c, 0x01]);
        assert_eq!(enc_str(b"-70000"), [0xc2, 0x90, 0xee, 0xfe, 0xff]);
        // Not canonical, or too wide: verbatim.
        assert_eq!(enc_str(b"007"), [3, b'0', b'0', b'7']);
        assert_eq!(enc_str(b"-0"), [2, b'-', b'0']);
        assert_eq!(enc_str(b"+5"), [2, b'+', b'5']);
        assert_eq!(
            enc_str(b"4294967296"),
            [10, b'4', b'2', b'9', b'4', b'9', b'6', b'7', b'2', b'9', b'6']
        );
        for s in [
            &b"0"[..],
            b"-128",
            b"300",
            b"-70000",
            b"2147483647",
            b"-2147483648",
        ] {
            assert_eq!(read_string(&enc_str(s), &mut 0).as_deref(), Ok(s));
        }
    }

    #[test]
    fn strings_plain_and_lzf() {
        for s in [&b""[..], b"hello", &[b'z'; 20], &[b'a'; 60], &[7u8; 20000]] {
            let v = enc_str(s);
            let mut pos = 0;
            assert_eq!(read_string(&v, &mut pos).as_deref(), Ok(s));
            assert_eq!(pos, v.len());
        }
        // 60 'a' as Redis writes it (DUMP of such a string).
        assert_eq!(
            enc_str(&[b'a'; 60]),
            [0xc3, 0x09, 0x3c, 0x01, b'a', b'a', 0xe0, 0x2f, 0x00, 0x01, b'a', b'a']
        );
        let mut plain = Vec::new();
        write_string(&mut plain, &[b'a'; 60], false);
        assert_eq!(plain.len(), 61);
        // Truncated data and corrupt LZF are errors.
        let v = enc_str(&[b'a'; 60]);
        assert_eq!(
            read_string(&v[..v.len() - 1], &mut 0),
            Err(Error::Truncated)
        );
        let mut bad = v.clone();
        bad[2] = 0x3d; // claims 61 bytes
        assert_eq!(read_string(&bad, &mut 0), Err(Error::BadLzf));
    }
}
