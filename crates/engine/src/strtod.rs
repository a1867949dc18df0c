//! Numbers read the way C's `strtod` reads them (decimal and hexadecimal
//! floats, inf/nan, ERANGE), which Redis uses for scores and SORT weights.

/// C's `isspace` in the C locale.
pub(crate) fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Case-insensitive prefix test.
fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `v * 2^exp` without intermediate overflow or underflow of the factor.
fn scale2(mut v: f64, mut exp: i64) -> f64 {
    while exp > 1000 {
        v *= 2f64.powi(1000);
        exp -= 1000;
        if v.is_infinite() {
            return v;
        }
    }
    while exp < -1000 {
        v *= 2f64.powi(-1000);
        exp += 1000;
        if v == 0.0 {
            return v;
        }
    }
    v * 2f64.powi(exp as i32)
}

/// The hexadecimal part of a `0x` float (after the prefix): value, bytes
/// used, or None when no hex digit follows.
fn strtod_hex(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut sticky = false;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        digits += 1;
        if mant >> 56 == 0 {
            mant = (mant << 4) | d as u64;
            if seen_dot {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_dot {
                exp += 4;
            }
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if s.get(i).is_some_and(|c| c | 0x20 == b'p') {
        let mut j = i + 1;
        let neg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let start = j;
        let mut e: i64 = 0;
        while let Some(c) = s.get(j).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + (c - b'0') as i64).min(1 << 40);
            j += 1;
        }
        if j > start {
            exp += if neg { -e } else { e };
            i = j;
        }
    }
    let mant = mant | sticky as u64;
    Some((scale2(mant as f64, exp), i))
}

/// C's `strtod` over `s`: the value, how many bytes were used (0 when no
/// number was found, as `strtod` then points back at the start), and
/// whether `errno` would be ERANGE (overflow to infinity, or underflow to
/// zero of a non-zero number). Stops at a NUL like the C function.
pub(crate) fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
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
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    if starts_with_ci(rest, b"inf") {
        let n = if starts_with_ci(rest, b"infinity") {
            8
        } else {
            3
        };
        return (sign(f64::INFINITY), i + n, false);
    }
    if starts_with_ci(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let mut j = 4;
            while rest
                .get(j)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                j += 1;
            }
            if rest.get(j) == Some(&b')') {
                n = j + 1;
            }
        }
        return (f64::NAN, i + n, false);
    }
    if rest.len() >= 2 && rest[0] == b'0' && rest[1] | 0x20 == b'x' {
        return match strtod_hex(&rest[2..]) {
            Some((v, n)) => {
                let erange = v.is_infinite()
                    || (v == 0.0
                        && rest[2..2 + n]
                            .iter()
                            .any(|c| c.is_ascii_hexdigit() && *c != b'0'));
                (sign(v), i + 2 + n, erange)
            }
            // Just the "0".
            None => (sign(0.0), i + 1, false),
        };
    }
    let mut j = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while let Some(c) = rest.get(j).filter(|c| c.is_ascii_digit()) {
        digits += 1;
        nonzero |= *c != b'0';
        j += 1;
    }
    if rest.get(j) == Some(&b'.') {
        j += 1;
        while let Some(c) = rest.get(j).filter(|c| c.is_ascii_digit()) {
            digits += 1;
            nonzero |= *c != b'0';
            j += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    if rest.get(j).is_some_and(|c| c | 0x20 == b'e') {
        let mut k = j + 1;
        if matches!(rest.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if rest.get(k).is_some_and(u8::is_ascii_digit) {
            while rest.get(k).is_some_and(u8::is_ascii_digit) {
                k += 1;
            }
            j = k;
        }
    }
    let v: f64 = std::str::from_utf8(&rest[..j])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0);
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    (sign(v), i + j, erange)
}
