//! memcached's number parsing (`safe_strtoul`, `safe_strtol`, `safe_strtoull`, `safe_strtoll`
//! in its util.c), reproduced bit for bit because clients depend on its leniencies.
//!
//! The rules, as the C library and memcached apply them to one token (a token never holds a
//! space, but may hold other whitespace such as a tab or a stray `\r`):
//! - leading whitespace (`\t \n \v \f \r`) is skipped, then one optional `+` or `-`;
//! - at least one decimal digit is required; the number ends at the first non-digit, which
//!   must be whitespace or the end of the token (`"1\tx"` is therefore `1`, `"1x"` is an error);
//! - a value that overflows the 64-bit C type (`unsigned long`/`long`) is an error (`ERANGE`);
//! - a `-` on an unsigned parse negates modulo 2^64 (`strtoul` semantics), and memcached only
//!   rejects it when the result looks negative as a signed number: `-0` is accepted as 0,
//!   `-1` is rejected;
//! - the 32-bit variants then truncate the 64-bit result to 32 bits *without* a range check,
//!   so flags `4294967296` store as 0 and a byte count of `4294967297` means 1.

/// C `isspace` in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The shared front half of `strtoul`/`strtol`: sign, magnitude, and whether the tail is
/// acceptable to memcached. `None` when there are no digits, the tail is bad, or the
/// magnitude does not fit in a `u64`.
fn scan(token: &[u8]) -> Option<(bool, u64)> {
    let mut i = 0;
    while i < token.len() && is_c_space(token[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < token.len() && (token[i] == b'+' || token[i] == b'-') {
        negative = token[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut value: u64 = 0;
    let mut overflow = false;
    while i < token.len() && token[i].is_ascii_digit() {
        let d = u64::from(token[i] - b'0');
        match value.checked_mul(10).and_then(|v| v.checked_add(d)) {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start || overflow {
        return None;
    }
    // C strings end at NUL, which only matters for item data (tokens never hold one).
    if i < token.len() && !is_c_space(token[i]) && token[i] != 0 {
        return None;
    }
    Some((negative, value))
}

/// `safe_strtoull`: an unsigned 64-bit value.
pub fn parse_u64(token: &[u8]) -> Option<u64> {
    let (negative, magnitude) = scan(token)?;
    let value = if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    };
    if (value as i64) < 0 && token.contains(&b'-') {
        return None;
    }
    Some(value)
}

/// `safe_strtoul`: parsed as `unsigned long` (64 bits), then truncated to 32 bits.
pub fn parse_u32(token: &[u8]) -> Option<u32> {
    parse_u64(token).map(|v| v as u32)
}

/// `safe_strtoll`: a signed 64-bit value; out-of-range magnitudes are errors.
pub fn parse_i64(token: &[u8]) -> Option<i64> {
    let (negative, magnitude) = scan(token)?;
    if negative {
        if magnitude > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `safe_strtol`: parsed as `long` (64 bits), then truncated to `int32_t` without a range
/// check, exactly like memcached 1.6.18 (`2147483648` becomes `-2147483648`).
pub fn parse_i32(token: &[u8]) -> Option<i32> {
    parse_i64(token).map(|v| v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_rules() {
        assert_eq!(parse_u32(b"0"), Some(0));
        assert_eq!(parse_u32(b"+1"), Some(1));
        assert_eq!(parse_u32(b"-0"), Some(0)); // memcached: "set a -0 0 1" -> STORED
        assert_eq!(parse_u32(b"-1"), None); // "set a -1 0 1" -> CLIENT_ERROR bad command line format
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), Some(0)); // gets shows flags 0
        assert_eq!(parse_u32(b"18446744073709551615"), Some(u32::MAX)); // STORED
        assert_eq!(parse_u32(b"18446744073709551616"), None);
        assert_eq!(parse_u32(b"0x1"), None);
        assert_eq!(parse_u32(b"1a"), None);
        assert_eq!(parse_u32(b""), None);
        assert_eq!(parse_u32(b"\t7"), Some(7));
        assert_eq!(parse_u32(b"7\t"), Some(7));
        assert_eq!(parse_u32(b"7\tjunk"), Some(7));
        assert_eq!(parse_u32(b"7\r"), Some(7)); // "set a 0 0 1\r\r\n" -> STORED
        assert_eq!(parse_u32(b"+"), None);
        assert_eq!(parse_u32(b"-"), None);
    }

    #[test]
    fn u64_rules() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None); // "invalid numeric delta argument"
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"-0"), Some(0));
        // strtoull negates: "-18446744073709551615" is 1, which does not look negative.
        assert_eq!(parse_u64(b"-18446744073709551615"), Some(1));
    }

    #[test]
    fn signed_rules() {
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_i32(b"2147483648"), Some(i32::MIN)); // truncation, not an error
        assert_eq!(parse_i32(b"4294967297"), Some(1)); // "set a 0 0 4294967297" reads 1 byte
        assert_eq!(parse_i32(b"99999999999999999999"), None); // ERANGE
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i32(b"x"), None);
    }
}
