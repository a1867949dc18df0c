//! INCRBYFLOAT arithmetic exactly as Redis does it on x86-64: C `long double`
//! (x87 80-bit extended precision: 64-bit significand, 15-bit exponent),
//! read with `strtold` and printed with `"%.17Lf"` minus trailing zeros
//! (Redis's `string2ld` / `ld2string(LD_STR_HUMAN)`).
//!
//! Rust has no such type, so values are kept as sign, 64-bit significand and
//! binary exponent, with correctly rounded (round-half-even) parsing and
//! addition, and exact decimal printing.

use std::cmp::Ordering;

/// Smallest exponent of the significand's last bit (subnormals: 2^-16445).
const MIN_EXP: i64 = -16445;
/// Largest exponent of the significand's last bit for finite values.
const MAX_EXP: i64 = 16383 - 63;
/// Redis's MAX_LONG_DOUBLE_CHARS: longer inputs are not floats.
const MAX_CHARS: usize = 5 * 1024;

/// An extended-precision value: `(-1)^neg * mant * 2^exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongDouble {
    Zero { neg: bool },
    Inf { neg: bool },
    Num { neg: bool, mant: u64, exp: i64 },
}

impl LongDouble {
    pub fn is_finite(&self) -> bool {
        !matches!(self, LongDouble::Inf { .. })
    }

    /// Rounds `(sig + sticky) * 2^exp` (sticky: a nonzero fraction below the
    /// last bit of `sig`) to the nearest representable value, ties to even.
    fn round(neg: bool, sig: u128, exp: i64, sticky: bool) -> LongDouble {
        if sig == 0 {
            return LongDouble::Zero { neg };
        }
        let bits = 128 - sig.leading_zeros() as i64;
        let shift = (bits - 64).max(MIN_EXP - exp);
        let (mut mant, mut exp) = if shift > 0 {
            let (q, rem, half) = if shift >= 128 {
                (
                    0,
                    sig,
                    if shift == 128 {
                        1u128 << 127
                    } else {
                        u128::MAX
                    },
                )
            } else {
                (
                    sig >> shift,
                    sig & ((1u128 << shift) - 1),
                    1u128 << (shift - 1),
                )
            };
            let up = match rem.cmp(&half) {
                Ordering::Greater => true,
                Ordering::Equal => sticky || q & 1 == 1,
                Ordering::Less => false,
            };
            (q + up as u128, exp + shift)
        } else {
            (sig << -shift, exp + shift)
        };
        if mant == 1u128 << 64 {
            mant >>= 1;
            exp += 1;
        }
        if mant == 0 {
            return LongDouble::Zero { neg };
        }
        if exp > MAX_EXP {
            return LongDouble::Inf { neg };
        }
        LongDouble::Num {
            neg,
            mant: mant as u64,
            exp,
        }
    }

    /// The sum, or None for NaN (infinities of opposite signs).
    pub fn add(self, other: LongDouble) -> Option<LongDouble> {
        use LongDouble::*;
        match (self, other) {
            (Inf { neg: a }, Inf { neg: b }) if a != b => None,
            (Inf { .. }, _) => Some(self),
            (_, Inf { .. }) => Some(other),
            (Zero { neg: a }, Zero { neg: b }) => Some(Zero { neg: a && b }),
            (Zero { .. }, _) => Some(other),
            (_, Zero { .. }) => Some(self),
            (
                Num {
                    neg: na,
                    mant: ma,
                    exp: ea,
                },
                Num {
                    neg: nb,
                    mant: mb,
                    exp: eb,
                },
            ) => Some(add_nums((na, ma, ea), (nb, mb, eb))),
        }
    }
}

/// Normalizes a significand so its top bit is bit 63 (the exponent may then
/// fall below the subnormal range; rounding puts it back).
fn normalize(mant: u64, exp: i64) -> (u64, i64) {
    let z = mant.leading_zeros() as i64;
    (mant << z, exp - z)
}

fn add_nums(a: (bool, u64, i64), b: (bool, u64, i64)) -> LongDouble {
    let (na, ma, ea) = a;
    let (nb, mb, eb) = b;
    let (ma, ea) = normalize(ma, ea);
    let (mb, eb) = normalize(mb, eb);
    // The larger magnitude first.
    let ((na, ma, ea), (nb, mb, eb)) = if (ea, ma) >= (eb, mb) {
        ((na, ma, ea), (nb, mb, eb))
    } else {
        ((nb, mb, eb), (na, ma, ea))
    };
    // 62 guard bits: both significands as u128 at the larger exponent.
    let big = (ma as u128) << 62;
    let d = (ea - eb) as u64;
    let small_full = (mb as u128) << 62;
    let (small, sticky) = if d >= 126 {
        (0, true)
    } else {
        let s = small_full >> d;
        (s, (s << d) != small_full)
    };
    let exp = ea - 62;
    if na == nb {
        LongDouble::round(na, big + small, exp, sticky)
    } else {
        if big == small && !sticky {
            return LongDouble::Zero { neg: false };
        }
        // A truncated subtrahend is slightly larger than it looks.
        let diff = big - small - sticky as u128;
        LongDouble::round(na, diff, exp, sticky)
    }
}

/// Parses a float the way Redis's `string2ld` does (`strtold` in the C
/// locale, the whole string, no leading space, no NaN, no overflow, no
/// underflow to zero).
pub fn parse(s: &[u8]) -> Option<LongDouble> {
    if s.is_empty() || s.len() >= MAX_CHARS || s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return None;
    }
    let (neg, rest) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(LongDouble::Inf { neg });
    }
    let v = if lower.starts_with(b"0x") {
        parse_hex(neg, &rest[2..])?
    } else {
        parse_decimal(neg, rest)?
    };
    match v {
        // Overflow (ERANGE with HUGE_VAL) is refused.
        LongDouble::Inf { .. } => None,
        other => Some(other),
    }
}

/// Digits, optional fraction, optional exponent; None unless all of `s` is used.
fn split_number(s: &[u8], hex: bool) -> Option<(Vec<u8>, i64, i64)> {
    let is_digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    let mut digits = Vec::new();
    let mut frac_digits: i64 = 0;
    let mut i = 0;
    while i < s.len() && is_digit(s[i]) {
        digits.push(s[i]);
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && is_digit(s[i]) {
            digits.push(s[i]);
            frac_digits += 1;
            i += 1;
        }
    }
    if digits.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    let marker = if hex { b'p' } else { b'e' };
    if i < s.len() && s[i].eq_ignore_ascii_case(&marker) {
        i += 1;
        let neg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            exp = (exp * 10 + (s[i] - b'0') as i64).min(1 << 40);
            i += 1;
        }
        if i == start {
            return None;
        }
        if neg {
            exp = -exp;
        }
    }
    if i != s.len() {
        return None;
    }
    Some((digits, frac_digits, exp))
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (digits, frac_digits, exp2) = split_number(s, true)?;
    let mut sig: u128 = 0;
    let mut sticky = false;
    // Binary exponent of the last digit kept in `sig`.
    let mut exp = exp2 - 4 * frac_digits;
    let mut kept = 0;
    for &c in digits.iter().skip_while(|c| **c == b'0') {
        let d = (c as char).to_digit(16).unwrap_or(0) as u128;
        if kept < 30 {
            sig = sig << 4 | d;
            kept += 1;
        } else {
            sticky |= d != 0;
            exp += 4;
        }
    }
    Some(LongDouble::round(neg, sig, exp, sticky))
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (digits, frac_digits, exp10) = split_number(s, false)?;
    let digits: Vec<u8> = digits
        .iter()
        .skip_while(|c| **c == b'0')
        .map(|c| c - b'0')
        .collect();
    if digits.is_empty() {
        return Some(LongDouble::Zero { neg });
    }
    // value = D * 10^e10, with D the significant digits.
    let e10 = exp10 - frac_digits;
    let magnitude = digits.len() as i64 + e10; // value < 10^magnitude
    if magnitude > 4933 {
        return Some(LongDouble::Inf { neg });
    }
    if magnitude < -4951 {
        // Underflows to zero: strtold's ERANGE, refused by Redis.
        return None;
    }
    let mut d = Big::from_digits(&digits);
    let v = if e10 >= 0 {
        d.mul_pow10(e10 as u32);
        let (top, exp, sticky) = d.top128();
        LongDouble::round(neg, top, exp, sticky)
    } else {
        let mut p = Big::from_digits(&[1]);
        p.mul_pow10((-e10) as u32);
        // Enough quotient bits (about 100) for a correct rounding.
        let k = (p.bits() as i64 - d.bits() as i64 + 100).max(0);
        d.shl(k as u32);
        let (q, rem_nonzero) = d.div_small_quotient(&p, 102);
        LongDouble::round(neg, q, -k, rem_nonzero)
    };
    match v {
        LongDouble::Zero { .. } => None,
        other => Some(other),
    }
}

/// Formats like `"%.17Lf"` followed by Redis's trimming of trailing zeros
/// (and of the point), with "-0" printed as "0".
pub fn format_human(v: LongDouble) -> String {
    let (neg, int_part, frac) = match v {
        LongDouble::Zero { neg } => (neg, "0".to_string(), 0u64),
        LongDouble::Inf { neg } => return if neg { "-inf" } else { "inf" }.to_string(),
        LongDouble::Num { neg, mant, exp } if exp >= 0 => {
            let mut b = Big::from_u64(mant);
            b.shl(exp as u32);
            (neg, b.to_decimal(), 0)
        }
        LongDouble::Num { neg, mant, exp } => {
            let s = (-exp) as u32;
            let (mut int_part, frac_bits) = if s >= 64 {
                (0u64, mant)
            } else {
                (mant >> s, mant & ((1u64 << s) - 1))
            };
            const SCALE: u128 = 100_000_000_000_000_000; // 10^17
            let f = frac_bits as u128 * SCALE; // < 2^121
            let (mut q, up) = if s >= 122 {
                (0, false)
            } else {
                let q = f >> s;
                let twice_rem = (f - (q << s)) << 1;
                let one = 1u128 << s;
                (q, twice_rem > one || (twice_rem == one && q & 1 == 1))
            };
            if up {
                q += 1;
                if q == SCALE {
                    q = 0;
                    int_part += 1;
                }
            }
            (neg, int_part.to_string(), q as u64)
        }
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&int_part);
    let frac = format!("{frac:017}");
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if out == "-0" {
        out = "0".into();
    }
    out
}

/// A little unsigned big integer (base 2^32, little endian), enough for
/// exact decimal <-> binary conversion of extended-precision values.
#[derive(Clone, Debug)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn from_digits(digits: &[u8]) -> Big {
        let mut b = Big(Vec::new());
        for chunk in digits.chunks(9) {
            let mut v = 0u32;
            for &d in chunk {
                v = v * 10 + d as u32;
            }
            b.mul_add(10u32.pow(chunk.len() as u32), v);
        }
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for limb in self.0.iter_mut() {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_add(1_000_000_000, 0);
            n -= 9;
        }
        self.mul_add(10u32.pow(n), 0);
    }

    fn bits(&self) -> u32 {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() as u32 - 1) * 32 + (32 - top.leading_zeros()),
        }
    }

    fn bit(&self, i: u32) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    fn shl(&mut self, n: u32) {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        if bits > 0 {
            let mut carry = 0u32;
            for limb in self.0.iter_mut() {
                let v = *limb;
                *limb = v << bits | carry;
                carry = v >> (32 - bits);
            }
            if carry > 0 {
                self.0.push(carry);
            }
        }
        if limbs > 0 && !self.0.is_empty() {
            self.0.splice(0..0, std::iter::repeat_n(0, limbs));
        }
    }

    /// The top 128 bits, the exponent of their last bit, and whether any
    /// bit below them is set.
    fn top128(&self) -> (u128, i64, bool) {
        let bits = self.bits();
        let low = bits.saturating_sub(128);
        let mut top = 0u128;
        for i in (low..bits).rev() {
            top = top << 1 | self.bit(i) as u128;
        }
        let sticky = (0..low).any(|i| self.bit(i));
        (top, low as i64, sticky)
    }

    fn cmp_shifted(&self, other: &Big, shift: u32) -> Ordering {
        let mut o = other.clone();
        o.shl(shift);
        self.cmp_big(&o)
    }

    fn cmp_big(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    fn sub_shifted(&mut self, other: &Big, shift: u32) {
        let mut o = other.clone();
        o.shl(shift);
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let v = *limb as i64 - o.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = (v < 0) as i64;
            *limb = v.rem_euclid(1 << 32) as u32;
        }
        self.trim();
    }

    /// `self / d` for a quotient below 2^`qbits`, and whether a remainder is left.
    fn div_small_quotient(mut self, d: &Big, qbits: u32) -> (u128, bool) {
        let mut q = 0u128;
        for i in (0..qbits).rev() {
            if self.cmp_shifted(d, i) != Ordering::Less {
                self.sub_shifted(d, i);
                q |= 1 << i;
            }
        }
        (q, !self.0.is_empty())
    }

    fn to_decimal(&self) -> String {
        let mut limbs = self.0.clone();
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u64;
            for limb in limbs.iter_mut().rev() {
                let v = rem << 32 | *limb as u64;
                *limb = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            chunks.push(rem as u32);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or("0".into());
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        let v = parse(a.as_bytes())
            .unwrap()
            .add(parse(b.as_bytes()).unwrap());
        format_human(v.unwrap())
    }

    #[test]
    fn matches_redis_on_x86_64() {
        // Replies of redis-server 7.0 (x86-64) to INCRBYFLOAT.
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("10.6", "5.0e3"), "5010.60000000000000009");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("6", "1e20"), "100000000000000000008");
        assert_eq!(incr("0", "1.23456789012345678"), "1.23456789012345678");
        assert_eq!(incr("0", "5e-324"), "0");
        assert_eq!(incr("0", "-0.0"), "0");
        assert_eq!(incr("5", "-0.5"), "4.5");
        assert_eq!(incr("0", "0x10"), "16");
    }

    #[test]
    fn parse_rules() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "nan", "1e5000", "1e-5000", "0x", ".", "e5",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        for good in [
            "1",
            "+1",
            ".5",
            "5.",
            "1e-5",
            "inf",
            "-Infinity",
            "0e-99999",
            "0x1p3",
        ] {
            assert!(parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert_eq!(format_human(parse(b"0x1p3").unwrap()), "8");
        assert!(!parse(b"1e4932")
            .unwrap()
            .add(parse(b"1e4932").unwrap())
            .unwrap()
            .is_finite());
    }
}
