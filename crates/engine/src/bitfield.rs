//! Pure bit logic behind the bitmap commands (BITCOUNT, BITPOS, BITOP,
//! BITFIELD): counting, searching and combining bits of byte strings, and
//! reading/writing integers at arbitrary bit offsets with Redis's overflow
//! rules. Bits are numbered as Redis numbers them: bit 0 is the most
//! significant bit of byte 0.
//!
//! Nothing here touches the keyspace; `bitmap.rs` parses arguments and
//! resolves the ranges, this module does the work on slices.

/// Number of set bits in `bytes`, a 64-bit word at a time.
pub(crate) fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut n = 0u64;
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        n += u64::from_ne_bytes(word).count_ones() as u64;
    }
    n + words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>()
}

/// Resolves a Redis `start end` pair (negative counts from the end) against
/// a length of `total` units, clamping to the string. Returns the inclusive
/// range, or None when it is empty.
pub(crate) fn resolve_range(start: i64, end: i64, total: i64) -> Option<(u64, u64)> {
    let start = if start < 0 { total + start } else { start }.max(0);
    let mut end = if end < 0 { total + end } else { end }.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start as u64, end as u64))
}

/// Bits of a byte that come before bit `i` (0..8) of it.
fn high_mask(i: u64) -> u8 {
    !(0xFFu8 >> i)
}

/// Bits of a byte that come after bit `i` (0..8) of it.
fn low_mask(i: u64) -> u8 {
    (0xFFu32 >> (i + 1)) as u8
}

/// Number of set bits among bits `first..=last` of `bytes` (both inside it).
pub(crate) fn count_bits(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let whole = popcount(&bytes[fb..=lb]);
    // Take back the bits of the edge bytes that lie outside the range.
    let before = (bytes[fb] & high_mask(first & 7)).count_ones() as u64;
    let after = (bytes[lb] & low_mask(last & 7)).count_ones() as u64;
    whole - before - after
}

/// Position of the first bit equal to `bit` among bits `first..=last` of
/// `bytes` (both inside it), or None.
pub(crate) fn find_bit(bytes: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    // A byte turned so that the wanted bits are ones, and those outside the
    // range zeros.
    let look = |i: usize| {
        let mut b = if bit { bytes[i] } else { !bytes[i] };
        if i == fb {
            b &= !high_mask(first & 7);
        }
        if i == lb {
            b &= !low_mask(last & 7);
        }
        b
    };
    let at = |i: usize, b: u8| Some(i as u64 * 8 + b.leading_zeros() as u64);
    let first_byte = look(fb);
    if first_byte != 0 {
        return at(fb, first_byte);
    }
    let mut i = fb + 1;
    // Whole words strictly before the last byte need no masking.
    let skip = if bit { 0u64 } else { u64::MAX };
    while i + 8 <= lb {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        let w = u64::from_be_bytes(word) ^ skip;
        if w != 0 {
            return Some(i as u64 * 8 + w.leading_zeros() as u64);
        }
        i += 8;
    }
    while i <= lb {
        let b = look(i);
        if b != 0 {
            return at(i, b);
        }
        i += 1;
    }
    None
}

/// The BITOP operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Combines `srcs` (shorter ones padded with zero bytes) into a string as
/// long as the longest; NOT takes exactly one source.
pub(crate) fn bitop(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![0u8; maxlen];
    let Some((first, rest)) = srcs.split_first() else {
        return out;
    };
    out[..first.len()].copy_from_slice(first);
    if op == BitOp::Not {
        apply_words(&mut out, first, |a, _| !a);
        return out;
    }
    for src in rest {
        match op {
            BitOp::And => {
                apply_words(&mut out, src, |a, b| a & b);
                // Missing bytes of a shorter source are zeros.
                out[src.len()..].fill(0);
            }
            BitOp::Or => apply_words(&mut out, src, |a, b| a | b),
            BitOp::Xor => apply_words(&mut out, src, |a, b| a ^ b),
            BitOp::Not => {}
        }
    }
    out
}

/// `out[i] = f(out[i], src[i])` over the length of `src`, eight bytes at a
/// time (the operations are bitwise, so byte order does not matter).
fn apply_words(out: &mut [u8], src: &[u8], f: impl Fn(u64, u64) -> u64) {
    let out = &mut out[..src.len()];
    let mut out_words = out.chunks_exact_mut(8);
    let mut src_words = src.chunks_exact(8);
    for (o, s) in (&mut out_words).zip(&mut src_words) {
        let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
        a.copy_from_slice(o);
        b.copy_from_slice(s);
        let r = f(u64::from_ne_bytes(a), u64::from_ne_bytes(b));
        o.copy_from_slice(&r.to_ne_bytes());
    }
    for (o, s) in out_words
        .into_remainder()
        .iter_mut()
        .zip(src_words.remainder())
    {
        *o = f(*o as u64, *s as u64) as u8;
    }
}

/// Mask of the low `bits` (1..=64) bits.
fn value_mask(bits: u32) -> u64 {
    u64::MAX >> (64 - bits)
}

/// The nine bytes starting at byte `byte` of `bytes` (zeros past its end),
/// as the low 72 bits of a big-endian number: any field of up to 64 bits
/// starting in that byte fits.
fn window(bytes: &[u8], byte: usize) -> u128 {
    (0..9).fold(0u128, |w, k| {
        let b = bytes.get(byte + k).copied().unwrap_or(0);
        (w << 8) | b as u128
    })
}

/// The unsigned integer of `bits` (1..=64) bits at bit `offset`; bits past
/// the end of `bytes` read as zeros.
pub(crate) fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    let byte = (offset >> 3) as usize;
    let shift = 72 - (offset & 7) as u32 - bits;
    (window(bytes, byte) >> shift) as u64 & value_mask(bits)
}

/// The two's complement integer of `bits` (1..=64) bits at bit `offset`.
pub(crate) fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(bytes, offset, bits);
    // Move the field's sign bit to bit 63, then shift back arithmetically.
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Writes the low `bits` bits of `value` at bit `offset`; `bytes` must
/// reach the field's last bit.
pub(crate) fn set_bits(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    let byte = (offset >> 3) as usize;
    let shift = 72 - (offset & 7) as u32 - bits;
    let mask = (value_mask(bits) as u128) << shift;
    let w = (window(bytes, byte) & !mask) | (((value as u128) << shift) & mask);
    let last = ((offset + bits as u64 - 1) >> 3) as usize;
    for (k, slot) in bytes[byte..=last].iter_mut().enumerate() {
        *slot = (w >> (8 * (8 - k))) as u8;
    }
}

/// What BITFIELD does when a SET or INCRBY leaves the field's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// `value + incr` for an unsigned field of `bits` (1..=63) bits: the result
/// and whether it overflowed (on FAIL the result is meaningless). `value`
/// may lie outside the field (a SET of a negative or too large number,
/// with `incr` 0), which counts as an overflow upwards, as in Redis.
pub(crate) fn add_unsigned(value: u64, incr: i64, bits: u32, ow: Overflow) -> (u64, bool) {
    let max = value_mask(bits);
    let sum = value as i128 + incr as i128;
    let limit = if sum > max as i128 {
        max
    } else if sum < 0 {
        0
    } else {
        return (sum as u64, false);
    };
    match ow {
        Overflow::Sat => (limit, true),
        Overflow::Wrap | Overflow::Fail => (value.wrapping_add(incr as u64) & max, true),
    }
}

/// `value + incr` for a signed field of `bits` (1..=64) bits, like
/// [`add_unsigned`].
///
/// The range test is Redis's, wrapping arithmetic included: for a SET
/// (`incr` 0) of a value within `max` of `i64::MIN` into a field narrower
/// than 64 bits, `max - value` wraps negative and Redis reports an upward
/// overflow, so OVERFLOW SAT stores the maximum. Clients see that, so it
/// is kept.
pub(crate) fn add_signed(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i64, bool) {
    let max = (value_mask(bits) >> 1) as i64;
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let narrow = bits != 64;
    let limit = if value > max
        || (narrow && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr)
    {
        max
    } else if value < min
        || (narrow && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        min
    } else {
        return (value.wrapping_add(incr), false);
    };
    match ow {
        Overflow::Sat => (limit, true),
        Overflow::Wrap | Overflow::Fail => {
            let raw = (value as u64).wrapping_add(incr as u64);
            // Keep the low `bits` bits and sign-extend them.
            (((raw << (64 - bits)) as i64) >> (64 - bits), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn naive_bit(bytes: &[u8], i: u64) -> bool {
        bytes
            .get((i >> 3) as usize)
            .is_some_and(|b| b & (0x80 >> (i & 7)) != 0)
    }

    fn random_bytes(rng: &mut impl Rng, max_len: usize) -> Vec<u8> {
        let len = rng.gen_range(0..=max_len);
        // Mostly-empty and mostly-full strings exercise the word skips.
        match rng.gen_range(0..3) {
            0 => (0..len).map(|_| rng.gen()).collect(),
            1 => (0..len)
                .map(|_| if rng.gen_ratio(1, 40) { rng.gen() } else { 0 })
                .collect(),
            _ => (0..len)
                .map(|_| {
                    if rng.gen_ratio(1, 40) {
                        rng.gen()
                    } else {
                        0xFF
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn popcount_and_count_bits_match_naive() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..2000 {
            let bytes = random_bytes(&mut rng, 80);
            let naive = (0..bytes.len() as u64 * 8)
                .filter(|&i| naive_bit(&bytes, i))
                .count();
            assert_eq!(popcount(&bytes), naive as u64);
            if bytes.is_empty() {
                continue;
            }
            let nbits = bytes.len() as u64 * 8;
            let a = rng.gen_range(0..nbits);
            let b = rng.gen_range(a..nbits);
            let naive = (a..=b).filter(|&i| naive_bit(&bytes, i)).count() as u64;
            assert_eq!(count_bits(&bytes, a, b), naive, "{bytes:?} {a}..={b}");
        }
    }

    #[test]
    fn find_bit_matches_naive() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for _ in 0..4000 {
            let bytes = random_bytes(&mut rng, 80);
            if bytes.is_empty() {
                continue;
            }
            let nbits = bytes.len() as u64 * 8;
            let a = rng.gen_range(0..nbits);
            let b = rng.gen_range(a..nbits);
            for bit in [false, true] {
                let naive = (a..=b).find(|&i| naive_bit(&bytes, i) == bit);
                assert_eq!(
                    find_bit(&bytes, bit, a, b),
                    naive,
                    "{bytes:?} {bit} {a}..={b}"
                );
            }
        }
    }

    #[test]
    fn resolve_range_follows_redis() {
        assert_eq!(resolve_range(0, -1, 5), Some((0, 4)));
        assert_eq!(resolve_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(resolve_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(resolve_range(3, 1, 5), None);
        assert_eq!(resolve_range(0, -1, 0), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 5), Some((0, 4)));
    }

    #[test]
    fn bitop_matches_naive() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for _ in 0..1000 {
            let n = rng.gen_range(1..5);
            let srcs: Vec<Vec<u8>> = (0..n).map(|_| random_bytes(&mut rng, 70)).collect();
            let refs: Vec<&[u8]> = srcs.iter().map(|s| s.as_slice()).collect();
            let maxlen = refs.iter().map(|s| s.len()).max().unwrap_or(0);
            let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
            for op in [BitOp::And, BitOp::Or, BitOp::Xor, BitOp::Not] {
                let srcs = if op == BitOp::Not {
                    &refs[..1]
                } else {
                    &refs[..]
                };
                let maxlen = if op == BitOp::Not {
                    srcs[0].len()
                } else {
                    maxlen
                };
                let naive: Vec<u8> = (0..maxlen)
                    .map(|i| {
                        let first = byte(srcs[0], i);
                        srcs[1..].iter().fold(
                            if op == BitOp::Not { !first } else { first },
                            |acc, s| match op {
                                BitOp::And => acc & byte(s, i),
                                BitOp::Or => acc | byte(s, i),
                                BitOp::Xor => acc ^ byte(s, i),
                                BitOp::Not => acc,
                            },
                        )
                    })
                    .collect();
                assert_eq!(bitop(op, srcs), naive, "{op:?}");
            }
        }
    }

    #[test]
    fn bitfield_round_trip_matches_naive() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for _ in 0..5000 {
            let mut bytes = random_bytes(&mut rng, 24);
            let bits = rng.gen_range(1..=64u32);
            let offset = rng.gen_range(0..200u64);
            // The naive model: bit by bit, most significant first.
            let naive_get = |bytes: &[u8]| {
                (0..bits as u64).fold(0u64, |v, i| (v << 1) | naive_bit(bytes, offset + i) as u64)
            };
            assert_eq!(get_unsigned(&bytes, offset, bits), naive_get(&bytes));
            let u = naive_get(&bytes);
            let sign_extended = if bits < 64 && u >> (bits - 1) & 1 == 1 {
                (u | !value_mask(bits)) as i64
            } else {
                u as i64
            };
            assert_eq!(get_signed(&bytes, offset, bits), sign_extended);

            let need = ((offset + bits as u64 - 1) >> 3) as usize + 1;
            if bytes.len() < need {
                bytes.resize(need, 0);
            }
            let before = bytes.clone();
            let value: u64 = rng.gen();
            set_bits(&mut bytes, offset, bits, value);
            assert_eq!(get_unsigned(&bytes, offset, bits), value & value_mask(bits));
            // Every bit outside the field is untouched.
            for i in 0..bytes.len() as u64 * 8 {
                if i < offset || i >= offset + bits as u64 {
                    assert_eq!(naive_bit(&bytes, i), naive_bit(&before, i), "bit {i}");
                }
            }
        }
    }

    #[test]
    fn overflow_rules() {
        use Overflow::*;
        assert_eq!(add_unsigned(250, 10, 8, Wrap), (4, true));
        assert_eq!(add_unsigned(250, 10, 8, Sat), (255, true));
        assert_eq!(add_unsigned(5, -10, 8, Sat), (0, true));
        assert_eq!(add_unsigned(5, -10, 8, Wrap), (251, true));
        assert_eq!(add_unsigned(5, 10, 8, Fail), (15, false));
        // SET u8 -1: the value is 2^64-1, an upward overflow.
        assert_eq!(add_unsigned(u64::MAX, 0, 8, Sat), (255, true));
        assert_eq!(add_unsigned(u64::MAX, 0, 8, Wrap), (255, true));
        assert_eq!(add_unsigned(256, 0, 8, Wrap), (0, true));
        assert_eq!(add_unsigned(1, i64::MAX, 63, Sat), (i64::MAX as u64, true));
        assert_eq!(add_signed(127, 1, 8, Wrap), (-128, true));
        assert_eq!(add_signed(127, 1, 8, Sat), (127, true));
        assert_eq!(add_signed(-128, -1, 8, Sat), (-128, true));
        assert_eq!(add_signed(-128, -1, 8, Wrap), (127, true));
        assert_eq!(add_signed(i64::MAX, 1, 64, Wrap), (i64::MIN, true));
        assert_eq!(add_signed(i64::MIN, -1, 64, Sat), (i64::MIN, true));
        assert_eq!(add_signed(0, -1, 1, Fail), (-1, false));
        assert_eq!(add_signed(0, 1, 1, Sat), (0, true));
        assert_eq!(add_signed(-1, 1, 1, Fail), (0, false));
        // Redis's wrapped range test: a SET near i64::MIN saturates upwards.
        assert_eq!(add_signed(i64::MIN, 0, 8, Sat), (127, true));
        assert_eq!(add_signed(i64::MIN + 127, 0, 8, Sat), (127, true));
        assert_eq!(add_signed(i64::MIN + 128, 0, 8, Sat), (-128, true));
        assert_eq!(add_signed(i64::MIN, 0, 8, Wrap), (0, true));
        assert_eq!(add_signed(i64::MIN, 0, 64, Sat), (i64::MIN, false));
    }

    #[test]
    fn overflow_matches_wide_model() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        for _ in 0..20000 {
            let bits = rng.gen_range(1..=64u32);
            let max = (1i128 << (bits - 1)) - 1;
            let min = -max - 1;
            let value = rng.gen_range(min..=max) as i64;
            let incr: i64 = if rng.gen() {
                rng.gen()
            } else {
                rng.gen_range(-300..300)
            };
            let sum = value as i128 + incr as i128;
            let modulus = 1i128 << bits;
            let wrapped = ((sum - min).rem_euclid(modulus) + min) as i64;
            let (w, o) = add_signed(value, incr, bits, Overflow::Wrap);
            assert_eq!((w, o), (wrapped, sum > max || sum < min));
            let (s, _) = add_signed(value, incr, bits, Overflow::Sat);
            assert_eq!(s as i128, sum.clamp(min, max));
            if bits < 64 {
                let umax = (1i128 << bits) - 1;
                let uv = rng.gen_range(0..=umax) as u64;
                let usum = uv as i128 + incr as i128;
                let (w, o) = add_unsigned(uv, incr, bits, Overflow::Wrap);
                assert_eq!(
                    (w as i128, o),
                    (usum.rem_euclid(modulus), usum > umax || usum < 0)
                );
                let (s, _) = add_unsigned(uv, incr, bits, Overflow::Sat);
                assert_eq!(s as i128, usum.clamp(0, umax));
            }
        }
    }
}
