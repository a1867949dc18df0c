//! Redis's listpack byte format (listpack.c), as RDB files and DUMP
//! payloads carry small hashes, sorted sets, list nodes and stream nodes.
//!
//! ```text
//! total bytes: u32 LE | element count: u16 LE (65535: count by walking)
//! entries: encoding + data | backlen (the entry's size, read right to left)
//! 0xFF
//! ```
//!
//! An element that reads as a canonical decimal integer is stored as an
//! integer in the smallest of the 7-, 13-, 16-, 24-, 32- or 64-bit forms;
//! any other element as a string with a 6-, 12- or 32-bit length. The
//! writer makes the same choices as Redis's `lpAppend`, so the bytes equal
//! Redis's for the same elements; the decoder validates a blob as
//! `lpValidateIntegrity` does with deep checks before trusting any of it.

use crate::encoding::canonical_i64;
use crate::{Element, Error};

const HEADER: usize = 6;
const EOF: u8 = 0xFF;
/// The count field's "unknown" value.
const COUNT_UNKNOWN: u16 = u16::MAX;

const STR6: u8 = 0x80;
const INT13: u8 = 0xC0;
const STR12: u8 = 0xE0;
const STR32: u8 = 0xF0;
const INT16: u8 = 0xF1;
const INT24: u8 = 0xF2;
const INT32: u8 = 0xF3;
const INT64: u8 = 0xF4;

/// Builds a listpack element by element.
pub struct Writer {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER]);
        Writer { buf, count: 0 }
    }

    /// Elements written so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the listpack will take once finished.
    pub fn encoded_len(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends an element: as an integer when it is a canonical decimal
    /// integer (as Redis does), as a string otherwise.
    pub fn push(&mut self, s: &[u8]) {
        if s.len() <= 20 {
            if let Some(v) = canonical_i64(s) {
                return self.push_int(v);
            }
        }
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(STR6 | len as u8);
        } else if len < 4096 {
            self.buf.push(STR12 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(STR32);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.finish_entry(start);
    }

    /// Appends an integer element.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            self.buf.push(INT13 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if let Ok(h) = i16::try_from(v) {
            self.buf.push(INT16);
            self.buf.extend_from_slice(&h.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(INT24);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(w) = i32::try_from(v) {
            self.buf.push(INT32);
            self.buf.extend_from_slice(&w.to_le_bytes());
        } else {
            self.buf.push(INT64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.finish_entry(start);
    }

    pub fn push_element(&mut self, e: Element<'_>) {
        match e {
            Element::Str(s) => self.push(s),
            Element::Int(v) => self.push_int(v),
        }
    }

    fn finish_entry(&mut self, start: usize) {
        let l = self.buf.len() - start;
        let mut back = [0u8; 5];
        let n = encode_backlen(l, &mut back);
        self.buf.extend_from_slice(&back[..n]);
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = if self.count < COUNT_UNKNOWN as usize {
            self.count as u16
        } else {
            COUNT_UNKNOWN
        };
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// `lpEncodeBacklen`: most significant group first, every byte but the
/// first with the high bit set, so it reads right to left.
fn encode_backlen(l: usize, out: &mut [u8; 5]) -> usize {
    let n = match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    for (i, byte) in out[..n].iter_mut().enumerate() {
        let shift = 7 * (n - 1 - i);
        let group = ((l >> shift) & 127) as u8;
        *byte = if i == 0 { group } else { group | 128 };
    }
    n
}

/// Reads a backlen ending just before `end` in `blob`: (value, bytes used).
fn decode_backlen(blob: &[u8], end: usize) -> Option<(usize, usize)> {
    let mut value = 0usize;
    let mut used = 0;
    loop {
        let b = *blob.get(end.checked_sub(used + 1)?)?;
        value |= ((b & 127) as usize) << (7 * used);
        used += 1;
        if b & 128 == 0 {
            return Some((value, used));
        }
        if used == 5 {
            return None;
        }
    }
}

/// The element starting at `pos`: (element, bytes of encoding + data).
fn read_entry(blob: &[u8], pos: usize) -> Result<(Element<'_>, usize), Error> {
    let bytes = |from: usize, n: usize| -> Result<&[u8], Error> {
        blob.get(from..from.checked_add(n).ok_or(Error::Corrupt)?)
            .ok_or(Error::Corrupt)
    };
    let int_le = |n: usize| -> Result<i64, Error> {
        let b = bytes(pos + 1, n)?;
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(b);
        let v = u64::from_le_bytes(a);
        // Sign-extend from n bytes.
        let shift = 64 - 8 * n as u32;
        Ok(((v << shift) as i64) >> shift)
    };
    let first = *blob.get(pos).ok_or(Error::Corrupt)?;
    Ok(match first {
        0x00..=0x7F => (Element::Int(first as i64), 1),
        0x80..=0xBF => {
            let len = (first & 0x3f) as usize;
            (Element::Str(bytes(pos + 1, len)?), 1 + len)
        }
        0xC0..=0xDF => {
            let low = *blob.get(pos + 1).ok_or(Error::Corrupt)?;
            let u = (((first & 0x1f) as u16) << 8) | low as u16;
            // Sign-extend from 13 bits.
            let v = ((u << 3) as i16 >> 3) as i64;
            (Element::Int(v), 2)
        }
        0xE0..=0xEF => {
            let low = *blob.get(pos + 1).ok_or(Error::Corrupt)?;
            let len = (((first & 0x0f) as usize) << 8) | low as usize;
            (Element::Str(bytes(pos + 2, len)?), 2 + len)
        }
        STR32 => {
            let b = bytes(pos + 1, 4)?;
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            (Element::Str(bytes(pos + 5, len)?), 5 + len)
        }
        INT16 => (Element::Int(int_le(2)?), 3),
        INT24 => (Element::Int(int_le(3)?), 4),
        INT32 => (Element::Int(int_le(4)?), 5),
        INT64 => (Element::Int(int_le(8)?), 9),
        _ => return Err(Error::Corrupt),
    })
}

/// The elements of a listpack blob, after checking all of it: the header's
/// size and count, every entry's encoding and backlen, the end byte.
pub fn decode(blob: &[u8]) -> Result<Vec<Element<'_>>, Error> {
    if blob.len() < HEADER + 1 {
        return Err(Error::Corrupt);
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let count = u16::from_le_bytes([blob[4], blob[5]]);
    if total != blob.len() || blob[total - 1] != EOF {
        return Err(Error::Corrupt);
    }
    let end = total - 1;
    // Each entry takes at least two bytes: never reserve more than that.
    let mut out = Vec::with_capacity((count as usize).min((end - HEADER) / 2));
    let mut pos = HEADER;
    while pos < end {
        let (element, size) = read_entry(&blob[..end], pos)?;
        let (back, back_len) =
            decode_backlen(&blob[..end], pos + size + backlen_size(size)).ok_or(Error::Corrupt)?;
        if back != size || back_len != backlen_size(size) {
            return Err(Error::Corrupt);
        }
        pos += size + back_len;
        if pos > end {
            return Err(Error::Corrupt);
        }
        out.push(element);
    }
    if count != COUNT_UNKNOWN && count as usize != out.len() {
        return Err(Error::Corrupt);
    }
    Ok(out)
}

fn backlen_size(l: usize) -> usize {
    encode_backlen(l, &mut [0; 5])
}

/// Elements of a listpack written from `elements` (test and tool helper).
pub fn encode<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut w = Writer::new();
    for e in elements {
        w.push(e);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(elements: &[&[u8]]) {
        let blob = encode(elements.iter().copied());
        let back = decode(&blob).expect("valid");
        let back: Vec<Vec<u8>> = back.iter().map(Element::to_vec).collect();
        let want: Vec<Vec<u8>> = elements.iter().map(|e| e.to_vec()).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn redis_hash_listpack_bytes() {
        // redis-server 7.0.15: HSET h a 1 bb -5000 c hello; DUMP h (type 16,
        // the listpack as an RDB string of 0x1e bytes).
        let blob: &[u8] =
            b"\x1e\x00\x00\x00\x06\x00\x81a\x02\x01\x01\x82bb\x03\xf1x\xec\x03\x81c\x02\x85hello\x06\xff";
        let want = encode([&b"a"[..], b"1", b"bb", b"-5000", b"c", b"hello"]);
        assert_eq!(want, blob);
        let back = decode(blob).expect("valid");
        assert_eq!(back[3], Element::Int(-5000));
    }

    #[test]
    fn every_encoding_roundtrips() {
        let big = vec![b'x'; 70_000];
        let mid = vec![b'y'; 3000];
        let small = vec![b'z'; 63];
        let ints: Vec<String> = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            (1 << 23) - 1,
            -(1 << 23),
            1 << 23,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN,
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        let mut elements: Vec<&[u8]> = vec![&big, &mid, &small, b"", b"-0", b"007", b"+1"];
        elements.extend(ints.iter().map(|s| s.as_bytes()));
        roundtrip(&elements);
        // Integers come back as integers, strings that only look numeric as strings.
        let blob = encode(elements.iter().copied());
        let back = decode(&blob).unwrap();
        assert_eq!(back[4], Element::Str(b"-0"));
        assert!(back[7..].iter().all(|e| matches!(e, Element::Int(_))));
    }

    #[test]
    fn backlen_forms() {
        for l in [
            1usize, 127, 128, 16382, 16383, 2097150, 2097151, 268435454, 268435455,
        ] {
            let mut b = [0u8; 5];
            let n = encode_backlen(l, &mut b);
            assert_eq!(decode_backlen(&b[..n], n), Some((l, n)), "{l}");
        }
    }

    #[test]
    fn many_elements_count_unknown() {
        let items: Vec<String> = (0..70_000).map(|i| format!("e{i}")).collect();
        let blob = encode(items.iter().map(|s| s.as_bytes()));
        assert_eq!(&blob[4..6], &[0xff, 0xff]);
        assert_eq!(decode(&blob).unwrap().len(), 70_000);
    }

    #[test]
    fn damage_is_refused_without_panic() {
        let blob = encode([&b"a"[..], b"12345", b"hello world", &[b'q'; 300], b"-7"]);
        for cut in 0..blob.len() {
            assert!(decode(&blob[..cut]).is_err());
        }
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                let _ = decode(&bad);
            }
        }
        // A wrong count is refused.
        let mut bad = blob.clone();
        bad[4] = 9;
        assert!(decode(&bad).is_err());
    }
}
