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
