//! Reply encoding for RESP2 and RESP3.
//!
//! Handlers write RESP3-typed replies (maps, sets, doubles, nulls, booleans);
//! for RESP2 clients the writer downgrades them as Redis does.

use crate::double::format_double;

/// The protocol a client speaks (chosen with HELLO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// Appends encoded replies to an output buffer.
pub struct ReplyWriter<'a> {
    pub out: &'a mut Vec<u8>,
    pub proto: Protocol,
}

impl<'a> ReplyWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>, proto: Protocol) -> Self {
        ReplyWriter { out, proto }
    }

    pub fn is_resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    fn header(&mut self, prefix: u8, n: usize) {
        self.out.push(prefix);
        let mut b = itoa::Buffer::new();
        self.out.extend_from_slice(b.format(n).as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.out.push(b'+');
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// A status reply of any bytes (a script's `{ok = ...}`); newlines
    /// become spaces, as Redis does, so the reply stays one line.
    pub fn simple_bytes(&mut self, s: &[u8]) {
        self.one_line(b'+', s);
    }

    /// An error reply; `msg` starts with its code (`ERR ...`, `WRONGTYPE ...`).
    /// Newlines would break the protocol, so they become spaces (as Redis does).
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// An error reply whose text may hold any bytes (Redis echoes raw input in some errors).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.one_line(b'-', msg);
    }

    /// A one-line reply of any bytes, CR and LF turned into spaces.
    fn one_line(&mut self, kind: u8, text: &[u8]) {
        self.out.push(kind);
        self.out.extend(text.iter().map(|&c| newline_to_space(c)));
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, v: i64) {
        self.out.push(b':');
        let mut b = itoa::Buffer::new();
        self.out.extend_from_slice(b.format(v).as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn bulk(&mut self, v: &[u8]) {
        // One reservation for header, bytes and CRLF: a big value would
        // otherwise fill the buffer exactly and the CRLF double it (a
        // second copy of the whole value).
        self.out.reserve(v.len() + 24);
        self.header(b'$', v.len());
        self.out.extend_from_slice(v);
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn bulk_str(&mut self, v: &str) {
        self.bulk(v.as_bytes());
    }

    /// A bulk string of a decimal integer.
    pub fn bulk_int(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(v).as_bytes());
    }

    /// The null bulk string (RESP3: `_`).
    pub fn null(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.out.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array (RESP3: `_`).
    pub fn null_array(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.out.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// A map of `n` pairs (RESP2: flat array of 2n).
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n * 2),
            Protocol::Resp3 => self.header(b'%', n),
        }
    }

    /// A set (RESP2: array).
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n),
            Protocol::Resp3 => self.header(b'~', n),
        }
    }

    /// A push message header (RESP2: array).
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n),
            Protocol::Resp3 => self.header(b'>', n),
        }
    }

    pub fn double(&mut self, v: f64) {
        let s = format_double(v);
        match self.proto {
            Protocol::Resp2 => self.bulk(s.as_bytes()),
            Protocol::Resp3 => {
                self.out.push(b',');
                self.out.extend_from_slice(s.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }

    pub fn bool(&mut self, v: bool) {
        match self.proto {
            Protocol::Resp2 => self.int(v as i64),
            Protocol::Resp3 => self
                .out
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// A verbatim string (RESP3 `=`, with a 3-letter format such as `txt`); RESP2: bulk.
    pub fn verbatim(&mut self, format: &str, v: &[u8]) {
        self.verbatim_bytes(format.as_bytes(), v);
    }

    /// [`ReplyWriter::verbatim`] with a format of any bytes: its first three
    /// make the tag, NUL-padded when shorter (Redis copies three bytes of
    /// a C string).
    pub fn verbatim_bytes(&mut self, format: &[u8], v: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(v),
            Protocol::Resp3 => {
                self.header(b'=', v.len() + 4);
                let mut tag = [0u8; 3];
                for (t, f) in tag.iter_mut().zip(format) {
                    *t = *f;
                }
                self.out.extend_from_slice(&tag);
                self.out.push(b':');
                self.out.extend_from_slice(v);
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// A big number given as its digits (RESP3 `(`; RESP2: bulk). CR and LF
    /// become spaces, as Redis does, so the number stays one line.
    pub fn big_number(&mut self, digits: &[u8]) {
        match self.proto {
            Protocol::Resp2 => {
                let one_line: Vec<u8> = digits.iter().map(|&c| newline_to_space(c)).collect();
                self.bulk(&one_line)
            }
            Protocol::Resp3 => self.one_line(b'(', digits),
        }
    }

    /// The header of an attribute map of `n` pairs, which precedes the
    /// reply it describes (RESP3 only: a RESP2 client gets no attributes,
    /// so the caller writes the pairs only when this returns true).
    pub fn attribute(&mut self, n: usize) -> bool {
        match self.proto {
            Protocol::Resp2 => false,
            Protocol::Resp3 => {
                self.header(b'|', n);
                true
            }
        }
    }
}

/// CR and LF become spaces in replies that must stay on one line.
fn newline_to_space(c: u8) -> u8 {
    if c == b'\r' || c == b'\n' {
        b' '
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(proto: Protocol, f: impl FnOnce(&mut ReplyWriter)) -> String {
        let mut v = Vec::new();
        f(&mut ReplyWriter::new(&mut v, proto));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn downgrades() {
        assert_eq!(enc(Protocol::Resp2, |w| w.null()), "$-1\r\n");
        assert_eq!(enc(Protocol::Resp3, |w| w.null()), "_\r\n");
        assert_eq!(enc(Protocol::Resp2, |w| w.map(2)), "*4\r\n");
        assert_eq!(enc(Protocol::Resp3, |w| w.map(2)), "%2\r\n");
        assert_eq!(enc(Protocol::Resp2, |w| w.double(1.5)), "$3\r\n1.5\r\n");
        assert_eq!(enc(Protocol::Resp3, |w| w.double(1.5)), ",1.5\r\n");
        assert_eq!(enc(Protocol::Resp2, |w| w.bool(true)), ":1\r\n");
        assert_eq!(
            enc(Protocol::Resp3, |w| w.verbatim("txt", b"hi")),
            "=6\r\ntxt:hi\r\n"
        );
        assert_eq!(
            enc(Protocol::Resp2, |w| w.error("ERR a\r\nb")),
            "-ERR a  b\r\n"
        );
        assert_eq!(enc(Protocol::Resp3, |w| w.big_number(b"1\r2")), "(1 2\r\n");
        assert_eq!(
            enc(Protocol::Resp2, |w| w.big_number(b"1\n2")),
            "$3\r\n1 2\r\n"
        );
        assert_eq!(
            enc(Protocol::Resp3, |w| w.verbatim_bytes(b"md", b"x")),
            "=5\r\nmd\0:x\r\n"
        );
        assert_eq!(enc(Protocol::Resp3, |w| assert!(w.attribute(1))), "|1\r\n");
        assert_eq!(enc(Protocol::Resp2, |w| assert!(!w.attribute(1))), "");
    }
}

/// Appends a command as a RESP array of bulk strings (how the append-only
/// file and the replication stream carry commands).
pub fn write_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    write_array_len(out, args.len());
    for a in args {
        write_bulk(out, a.as_ref());
    }
}

/// Appends a RESP array header (`*n`), for a command written argument by
/// argument with [`write_bulk`].
pub fn write_array_len(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one bulk string (`$len`, the bytes).
pub fn write_bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(b.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod command_tests {
    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        super::write_command(&mut out, &[&b"SET"[..], b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
