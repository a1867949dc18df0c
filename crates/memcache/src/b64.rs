//! Base64 for meta-protocol binary keys (the `b` flag), matching memcached's own codec.
//!
//! memcached decodes with a lenient decoder (Jouni Malinen's public-domain base64.c): bytes
//! outside the alphabet are skipped, the number of alphabet bytes (counting `=`) must be a
//! non-zero multiple of four, decoding stops after the first block holding padding, and a
//! block with three or four `=` is an error. Clients observe these rules (`mg YW!Jj b k`
//! answers with key `YWJj`), so we decode the same way instead of using a strict decoder.
//! Encoding is standard padded base64.

use base64::Engine as _;

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    }
}

/// Decodes like memcached's `base64_decode`; `None` where memcached returns 0 (an error).
pub fn decode(src: &[u8]) -> Option<Vec<u8>> {
    let valid = src.iter().filter(|&&b| sextet(b).is_some()).count();
    if valid == 0 || valid % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(valid / 4 * 3);
    let mut block = [0u8; 4];
    let mut filled = 0;
    let mut pad = 0;
    for &b in src {
        let Some(v) = sextet(b) else { continue };
        if b == b'=' {
            pad += 1;
        }
        block[filled] = v;
        filled += 1;
        if filled == 4 {
            out.push((block[0] << 2) | (block[1] >> 4));
            out.push((block[1] << 4) | (block[2] >> 2));
            out.push((block[2] << 6) | block[3]);
            filled = 0;
            if pad > 0 {
                match pad {
                    1 => {
                        out.pop();
                    }
                    2 => {
                        out.truncate(out.len() - 2);
                    }
                    _ => return None,
                }
                break;
            }
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Appends the padded base64 form of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(
        start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
        0,
    );
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each expectation was observed on memcached 1.6.18 through `mg <key> b k`.
    #[test]
    fn memcached_decoding_quirks() {
        assert_eq!(decode(b"YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(decode(b"YW!Jj").as_deref(), Some(&b"abc"[..])); // junk skipped
        assert_eq!(decode(b"YWJj\t").as_deref(), Some(&b"abc"[..]));
        assert_eq!(decode(b"YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode(b"YQ=x").as_deref(), Some(&b"a\0"[..])); // answered kYQA= b
        assert_eq!(decode(b"YWJjZA==").as_deref(), Some(&b"abcd"[..]));
        assert_eq!(decode(b"YWJ"), None); // error decoding key
        assert_eq!(decode(b"YQ"), None);
        assert_eq!(decode(b"!!!!"), None);
        assert_eq!(decode(b"===="), None);
        assert_eq!(decode(b"Y==="), None);
        assert_eq!(decode(b"YQ==YWJj").as_deref(), Some(&b"a"[..])); // stops after padding
    }

    #[test]
    fn encode_round_trip() {
        let mut out = Vec::new();
        encode_into(b"a\0", &mut out);
        assert_eq!(out, b"YQA=");
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let mut enc = Vec::new();
            encode_into(&bytes, &mut enc);
            if len > 0 {
                assert_eq!(decode(&enc).as_deref(), Some(&bytes[..]));
            }
        }
    }
}
