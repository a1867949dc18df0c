//! Argument parsing with Redis's rules and error texts.

use crate::error::{CmdError, NOT_FLOAT, NOT_INTEGER};

/// Parses an i64 exactly as Redis's `string2ll` (no '+', no spaces, no leading zeros).
pub use keyspace::parse_canonical_i64 as parse_i64;

/// An integer argument, or Redis's "not an integer" error.
pub fn int(s: &[u8]) -> Result<i64, CmdError> {
    parse_i64(s).ok_or(NOT_INTEGER)
}

/// A float argument as Redis's `getDoubleFromObject` reads it (strtod, no
/// spaces, no NaN), or Redis's "not a valid float" error.
pub fn float(s: &[u8]) -> Result<f64, CmdError> {
    parse_f64(s).ok_or(NOT_FLOAT)
}

pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    if t.is_empty() || t.starts_with(char::is_whitespace) || t.ends_with(char::is_whitespace) {
        return None;
    }
    let v: f64 = match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust accepts a few spellings strtod does not and vice versa;
            // restrict to strtod's decimal syntax.
            if !t
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
            {
                return None;
            }
            t.parse().ok()?
        }
    };
    if v.is_nan() {
        return None;
    }
    Some(v)
}

/// Case-insensitive keyword comparison.
pub fn eq(a: &[u8], kw: &str) -> bool {
    a.eq_ignore_ascii_case(kw.as_bytes())
}

/// Lossy text of an argument for messages.
pub fn text(a: &[u8]) -> String {
    String::from_utf8_lossy(a).into_owned()
}

/// A SCAN cursor as Redis reads it with `strtoul`: an optional sign (a
/// negative value wraps around), decimal digits, nothing else; "" is 0.
pub fn scan_cursor(s: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::new("ERR invalid cursor");
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s.is_empty() {
        return Ok(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let v: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(invalid)?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The COUNT and MATCH options of HSCAN/SSCAN/ZSCAN: (count, pattern), where
/// `MATCH *` means no filtering.
pub fn scan_options<'a>(opts: &[&'a [u8]]) -> Result<(usize, Option<&'a [u8]>), CmdError> {
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 0;
    while i < opts.len() {
        let Some(v) = opts.get(i + 1) else {
            return Err(crate::error::SYNTAX);
        };
        if eq(opts[i], "count") {
            let c = int(v)?;
            if c < 1 {
                return Err(crate::error::SYNTAX);
            }
            count = c as usize;
        } else if eq(opts[i], "match") {
            pattern = (*v != b"*").then_some(*v);
        } else {
            return Err(crate::error::SYNTAX);
        }
        i += 2;
    }
    Ok((count, pattern))
}
