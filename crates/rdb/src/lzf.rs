//! LZF, the compression of RDB strings, written after Redis's `lzf_c.c`
//! and `lzf_d.c` (liblzf 3.6 with HLOG 16, VERY_FAST, no table
//! initialisation beyond "empty"), so [`compress`] produces the bytes Redis
//! produces and [`decompress`] reads anything Redis writes.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn frst(data: &[u8], p: usize) -> u32 {
    ((data[p] as u32) << 8) | data[p + 1] as u32
}

fn next(v: u32, data: &[u8], p: usize) -> u32 {
    (v << 8) | data[p + 2] as u32
}

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Appends one literal byte to the current literal run, closing the run
/// (its length byte written in front) once it holds `MAX_LIT` bytes.
#[inline]
fn literal(out: &mut [u8], op: &mut usize, lit: &mut usize, byte: u8) {
    *lit += 1;
    out[*op] = byte;
    *op += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

thread_local! {
    /// The hash table of recent positions, kept per thread: clearing 64K
    /// slots per call would cost far more than compressing a short string.
    /// Slots hold `base + position + 1`, and each call gets a `base` above
    /// every value stored before, so older slots read as empty.
    static TABLE: std::cell::RefCell<(Vec<u64>, u64)> = const { std::cell::RefCell::new((Vec::new(), 0)) };
}

/// Compresses `input` into at most `out_len` bytes, as `lzf_compress`;
/// `None` when the result would not fit (or either length is 0).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if input.is_empty() || out_len == 0 {
        return None;
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let (htab, next_base) = &mut *t;
        if htab.is_empty() {
            *htab = vec![0; HSIZE];
        }
        let base = *next_base;
        *next_base += input.len() as u64 + 1;
        compress_with(input, out_len, htab, base)
    })
}

fn compress_with(input: &[u8], out_len: usize, htab: &mut [u64], base: u64) -> Option<Vec<u8>> {
    let in_len = input.len();
    let stamp = |p: usize| base + p as u64 + 1;
    let mut out = vec![0u8; out_len + 2];
    let mut op = 1usize; // start run
    let mut lit = 0usize;
    let mut ip = 0usize;
    let mut hval = if in_len >= 2 { frst(input, 0) } else { 0 };
    while ip + 2 < in_len {
        hval = next(hval, input, ip);
        let slot = idx(hval);
        let reference = htab[slot];
        htab[slot] = stamp(ip);
        let candidate = reference
            .checked_sub(base + 1)
            .map(|r| r as usize)
            .filter(|&r| {
                r < ip
                    && ip - r - 1 < MAX_OFF
                    && r > 0
                    && input[r + 2] == input[ip + 2]
                    && input[r] == input[ip]
                    && input[r + 1] == input[ip + 1]
            });
        if let Some(r) = candidate {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
            'scan: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            break 'scan;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // now the number of octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            ip -= 2;
            hval = frst(input, ip);
            hval = next(hval, input, ip);
            htab[idx(hval)] = stamp(ip);
            ip += 1;
            hval = next(hval, input, ip);
            htab[idx(hval)] = stamp(ip);
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_len {
        literal(&mut out, &mut op, &mut lit, input[ip]);
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Decompresses `input`, which must expand to exactly `out_len` bytes (as
/// Redis checks); `None` if it is not valid LZF data of that length.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    // out_len is untrusted: reserve no more than the input can expand to
    // (a 3-byte back-reference makes at most 264 bytes).
    let mut out: Vec<u8> = Vec::with_capacity(out_len.min(input.len().saturating_mul(88)));
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < (1 << 5) {
            let run = ctrl + 1;
            if out.len() + run > out_len || ip + run > input.len() {
                return None;
            }
            out.extend_from_slice(&input[ip..ip + run]);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            let back = (ctrl & 0x1f) << 8;
            if ip >= input.len() {
                return None;
            }
            if len == 7 {
                len += input[ip] as usize;
                ip += 1;
                if ip >= input.len() {
                    return None;
                }
            }
            let back = back + input[ip] as usize + 1;
            ip += 1;
            if out.len() + len + 2 > out_len || back > out.len() {
                return None;
            }
            // The copy may overlap what it produces (a run of a short
            // pattern): copy what exists, then what that copy made, and so on.
            let mut src = out.len() - back;
            let mut left = len + 2;
            while left > 0 {
                let n = left.min(out.len() - src);
                out.extend_from_within(src..src + n);
                src += n;
                left -= n;
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let samples: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"#!lua name=lib\nredis.register_function('f1', function() return 1 end)\nredis.register_function('f2', function() return 1 end)\n".to_vec(),
            (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
            (0..3000u32).map(|i| (i / 100) as u8).collect(),
        ];
        for s in samples {
            let c = compress(&s, s.len() - 4).expect("compressible");
            assert!(c.len() < s.len() - 4);
            assert_eq!(decompress(&c, s.len()).as_deref(), Some(&s[..]));
        }
    }

    #[test]
    fn incompressible_gives_none() {
        let s: Vec<u8> = (0u8..=255).collect();
        assert!(compress(&s, s.len() - 4).is_none());
        assert!(compress(b"", 10).is_none());
    }

    #[test]
    fn matches_redis_bytes() {
        // The LZF part of redis-server 7.0.15's DUMP of a string of 60 'a'.
        let s = vec![b'a'; 60];
        let c = compress(&s, s.len() - 4).expect("compressible");
        assert_eq!(c, [0x01, b'a', b'a', 0xe0, 0x2f, 0x00, 0x01, b'a', b'a']);
        assert_eq!(decompress(&c, 60), Some(s));
        // ... and of a two-function library.
        let lib = b"#!lua name=lib\nredis.register_function('f1', function() return 1 end)\nredis.register_function('f2', function() return 1 end)\n";
        let expected: [u8; 77] = [
            0x1f, 0x23, 0x21, 0x6c, 0x75, 0x61, 0x20, 0x6e, 0x61, 0x6d, 0x65, 0x3d, 0x6c, 0x69,
            0x62, 0x0a, 0x72, 0x65, 0x64, 0x69, 0x73, 0x2e, 0x72, 0x65, 0x67, 0x69, 0x73, 0x74,
            0x65, 0x72, 0x5f, 0x66, 0x75, 0x0c, 0x6e, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x28, 0x27,
            0x66, 0x31, 0x27, 0x2c, 0x20, 0xe0, 0x00, 0x0e, 0x0e, 0x29, 0x20, 0x72, 0x65, 0x74,
            0x75, 0x72, 0x6e, 0x20, 0x31, 0x20, 0x65, 0x6e, 0x64, 0x29, 0xe0, 0x12, 0x36, 0x00,
            0x32, 0xe0, 0x11, 0x36, 0x01, 0x29, 0x0a,
        ];
        assert_eq!(lib.len(), 125);
        let c = compress(lib, lib.len() - 4).expect("compressible");
        assert_eq!(c, expected);
        assert_eq!(decompress(&expected, 125).as_deref(), Some(&lib[..]));
    }

    #[test]
    fn rejects_bad_input() {
        // Back reference before the start.
        assert!(decompress(&[0x20, 0x05], 10).is_none());
        // Literal run past the end of the input.
        assert!(decompress(&[0x05, b'a'], 6).is_none());
        // Wrong stated length.
        let c = compress(&[b'x'; 40], 36).expect("compressible");
        assert!(decompress(&c, 39).is_none());
    }
}
