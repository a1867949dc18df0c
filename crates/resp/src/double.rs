//! Number formatting exactly as Redis prints it.

/// Formats like C's `printf("%.17g", v)`, which Redis 7.0 uses for double replies
/// (`inf`/`-inf`/`nan` for the special values).
pub fn format_double(v: f64) -> String {
    format_g(v, 17)
}

/// The text Redis keeps for a sorted-set score in a listpack (`d2string`):
/// an integer for integral scores within ±2^62, `%.17g` otherwise. ZSCAN of
/// a listpack-encoded set prints it; RDB files store it.
pub fn format_listpack_score(v: f64) -> String {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if v.fract() == 0.0 && (-HALF..=HALF).contains(&v) {
        return (v as i64).to_string();
    }
    format_double(v)
}

/// Formats like C's `printf("%.<precision>g", v)` (precision 1..=17).
pub fn format_g(v: f64, precision: i32) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = precision.clamp(1, 17);
    let sci = format!("{:.*e}", (p - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if !(-4..p).contains(&exp) {
        out.push_str(&digits[..1]);
        let frac = digits[1..].trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    } else {
        let int_len = (exp + 1) as usize;
        out.push_str(&digits[..int_len]);
        let frac = digits[int_len..].trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    }
    out
}

/// Formats a float the way Redis prints INCRBYFLOAT / HINCRBYFLOAT results
/// (`%.17Lf` with trailing zeros removed). Redis computes in `long double`;
/// we compute in `f64` and print the shortest representation that reads back
/// to the same value, which gives the same text for ordinary inputs.
pub fn format_long_double(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v}");
    if s.contains('e') {
        // Display never uses exponents for f64, but guard anyway.
        return format!("{v:.17}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1.5e-5), "1.5e-05");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(123456789.0), "123456789");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(1e300), "1.0000000000000001e+300");
    }

    #[test]
    fn long_double_like() {
        assert_eq!(format_long_double(10.5 + 0.1), "10.6");
        assert_eq!(format_long_double(5000.0), "5000");
        assert_eq!(format_long_double(-5000.0), "-5000");
        assert_eq!(format_long_double(1.25), "1.25");
    }
}
