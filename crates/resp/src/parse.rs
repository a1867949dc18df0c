//! Request parsing: RESP multibulk (`*N\r\n$L\r\n...`) and inline commands.
//!
//! Error texts are Redis's own, because clients and test suites match on them.
//! Every protocol error closes the connection after the error is written, as
//! Redis does.

use std::ops::Range;

/// Longest `*N` or `$L` header line and longest inline command Redis accepts.
const MAX_HEADER_LINE: usize = 64 * 1024;
/// Above this, a bulk string is read straight into an exactly-sized buffer by Redis;
/// we use it to ask the caller to reserve capacity once (no quadratic growth).
const BIG_ARG: usize = 32 * 1024;
/// Redis 7 accepts multibulk counts up to INT_MAX (arguments are only
/// reserved as they arrive).
const MAX_MULTIBULK: i64 = i32::MAX as i64;

/// Limits a connection's parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// Unauthenticated clients may only send small requests (Redis 7).
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// A protocol error: the message to send (without `-`/CRLF; raw bytes, since
/// Redis echoes the offending byte); the connection closes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub Vec<u8>);

/// The outcome of parsing at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete command of `consumed` bytes; argument ranges were pushed.
    /// An empty argument list means an empty request (`*0`, blank inline line), to skip.
    Command { consumed: usize },
    /// More bytes are needed; `hint` is the total buffer length that would
    /// complete at least the current argument (0 when unknown), so the caller
    /// can reserve it once and avoid reparsing until then.
    Incomplete { hint: usize },
}

fn protocol_error(msg: &str) -> ParseError {
    ParseError(format!("ERR Protocol error: {msg}").into_bytes())
}

/// Parses one request at the start of `buf`, pushing argument ranges into `args`
/// (cleared first). Ranges index into `buf`.
pub fn parse_command(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
    inline_scratch: &mut Vec<Vec<u8>>,
) -> Result<Parsed, ParseError> {
    args.clear();
    inline_scratch.clear();
    if buf.is_empty() {
        return Ok(Parsed::Incomplete { hint: 0 });
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits, args)
    } else {
        parse_inline(buf, args, inline_scratch)
    }
}

/// Parses a decimal integer the way Redis's `string2ll` does (no sign on zero
/// padding, no spaces, no overflow).
fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    if neg && v == 0 {
        return None;
    }
    Some(v)
}

/// Finds the `\r\n`-terminated line starting at `from`; returns the line's end
/// (index of `\r`). `None` means incomplete; an over-long line is an error.
fn header_line(buf: &[u8], from: usize, too_big: &str) -> Result<Option<usize>, ParseError> {
    match memchr::memchr(b'\r', &buf[from..]) {
        Some(i) => {
            if i > MAX_HEADER_LINE {
                return Err(protocol_error(too_big));
            }
            // Redis requires only the '\r'; it skips the following byte as '\n'.
            if from + i + 1 >= buf.len() {
                return Ok(None);
            }
            Ok(Some(from + i))
        }
        None => {
            if buf.len() - from > MAX_HEADER_LINE {
                return Err(protocol_error(too_big));
            }
            Ok(None)
        }
    }
}

fn parse_multibulk(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
) -> Result<Parsed, ParseError> {
    let Some(end) = header_line(buf, 0, "too big mbulk count string")? else {
        return Ok(Parsed::Incomplete { hint: 0 });
    };
    let count = match parse_i64(&buf[1..end]) {
        Some(n) if n <= MAX_MULTIBULK => n,
        _ => return Err(protocol_error("invalid multibulk length")),
    };
    if !limits.authenticated && count > 10 {
        return Err(protocol_error("unauthenticated multibulk length"));
    }
    let mut pos = end + 2;
    if count <= 0 {
        return Ok(Parsed::Command { consumed: pos });
    }
    args.reserve(count.min(1024) as usize);
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(Parsed::Incomplete { hint: 0 });
        }
        if buf[pos] != b'$' {
            let mut msg = b"ERR Protocol error: expected '$', got '".to_vec();
            msg.push(buf[pos]);
            msg.push(b'\'');
            return Err(ParseError(msg));
        }
        let Some(end) = header_line(buf, pos, "too big bulk count string")? else {
            return Ok(Parsed::Incomplete { hint: 0 });
        };
        let len = match parse_i64(&buf[pos + 1..end]) {
            Some(n) if n >= 0 && n <= limits.max_bulk_len => n as usize,
            _ => return Err(protocol_error("invalid bulk length")),
        };
        if !limits.authenticated && len > 16384 {
            return Err(protocol_error("unauthenticated bulk length"));
        }
        let start = end + 2;
        let needed = start + len + 2;
        if buf.len() < needed {
            let hint = if len >= BIG_ARG { needed } else { 0 };
            return Ok(Parsed::Incomplete { hint });
        }
        args.push(start..start + len);
        pos = needed;
    }
    Ok(Parsed::Command { consumed: pos })
}

fn parse_inline(
    buf: &[u8],
    args: &mut Vec<Range<usize>>,
    scratch: &mut Vec<Vec<u8>>,
) -> Result<Parsed, ParseError> {
    // Redis finds the newline with `strchr`, which stops at a NUL byte: a
    // line with a NUL before its newline stays incomplete (until it is too
    // big), as there.
    let newline = memchr::memchr2(b'\n', 0, buf).filter(|&i| buf[i] == b'\n');
    let Some(nl) = newline else {
        if buf.len() > MAX_HEADER_LINE {
            return Err(protocol_error("too big inline request"));
        }
        return Ok(Parsed::Incomplete { hint: 0 });
    };
    if nl > MAX_HEADER_LINE {
        return Err(protocol_error("too big inline request"));
    }
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    match split_inline_args(line) {
        Some(parts) => {
            // Inline arguments may be unquoted in place or rewritten (escapes);
            // they are handed over as owned scratch values and empty ranges.
            for p in parts {
                scratch.push(p);
                args.push(0..0);
            }
            Ok(Parsed::Command { consumed: nl + 1 })
        }
        None => Err(protocol_error("unbalanced quotes in request")),
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a line into arguments like Redis's `sdssplitargs`: whitespace
/// separated, with "double quotes" (C escapes, `\xHH`) and 'single quotes'.
/// `None` on unbalanced quotes or a closing quote not followed by a space.
pub fn split_inline_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // C string semantics: a NUL byte ends the line.
    let line = match memchr::memchr(0, line) {
        Some(i) => &line[..i],
        None => line,
    };
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_digit(line[i + 2]).is_some()
                    && hex_digit(line[i + 3]).is_some()
                {
                    let hi = hex_digit(line[i + 2])?;
                    let lo = hex_digit(line[i + 3])?;
                    cur.push(hi * 16 + lo);
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<(Parsed, Vec<Vec<u8>>), ParseError> {
        let mut args = Vec::new();
        let mut scratch = Vec::new();
        let p = parse_command(buf, &Limits::default(), &mut args, &mut scratch)?;
        let vals = if scratch.is_empty() {
            args.iter().map(|r| buf[r.clone()].to_vec()).collect()
        } else {
            scratch.clone()
        };
        Ok((p, vals))
    }

    fn err(buf: &[u8]) -> String {
        String::from_utf8_lossy(&parse(buf).unwrap_err().0).into_owned()
    }

    #[test]
    fn multibulk() {
        let (p, a) = parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1").unwrap();
        assert_eq!(p, Parsed::Command { consumed: 20 });
        assert_eq!(a, vec![b"GET".to_vec(), b"k".to_vec()]);
    }

    #[test]
    fn incomplete_and_hint() {
        assert_eq!(
            parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk").unwrap().0,
            Parsed::Incomplete { hint: 0 }
        );
        let (p, _) = parse(b"*2\r\n$3\r\nSET\r\n$100000\r\nabc").unwrap();
        assert_eq!(p, Parsed::Incomplete { hint: 22 + 100002 });
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(
            err(b"*3000000000\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*2147483648\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert!(parse(b"*2147483647\r\n$3\r\nGET\r\n").is_ok());
        assert_eq!(
            err(b"*x\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\nfoo\r\n"),
            "ERR Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            err(b"*1\r\n$x\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"*1\r\n$600000000\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"set \"a b\"x\r\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        let long = vec![b'a'; 70 * 1024];
        assert_eq!(err(&long), "ERR Protocol error: too big inline request");
    }

    #[test]
    fn inline() {
        let (p, a) = parse(b"set k \"a\\x41\\n\" 'it\\'s'\r\n").unwrap();
        assert_eq!(p, Parsed::Command { consumed: 25 });
        assert_eq!(
            a,
            vec![
                b"set".to_vec(),
                b"k".to_vec(),
                b"aA\n".to_vec(),
                b"it's".to_vec()
            ]
        );
        let (p, a) = parse(b"\r\n").unwrap();
        assert_eq!(p, Parsed::Command { consumed: 2 });
        assert!(a.is_empty());
    }

    #[test]
    fn zero_count_is_empty_command() {
        let (p, a) = parse(b"*0\r\n").unwrap();
        assert_eq!(p, Parsed::Command { consumed: 4 });
        assert!(a.is_empty());
        let (p, _) = parse(b"*-1\r\n").unwrap();
        assert_eq!(p, Parsed::Command { consumed: 5 });
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse(&data);
        }

        #[test]
        fn roundtrip(items in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 1..8)) {
            let mut buf = format!("*{}\r\n", items.len()).into_bytes();
            for it in &items {
                buf.extend_from_slice(format!("${}\r\n", it.len()).as_bytes());
                buf.extend_from_slice(it);
                buf.extend_from_slice(b"\r\n");
            }
            let (p, a) = parse(&buf).unwrap();
            proptest::prop_assert_eq!(p, Parsed::Command { consumed: buf.len() });
            proptest::prop_assert_eq!(a, items);
        }
    }
}
