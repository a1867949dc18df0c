//! `memcached_text`, `memcached_meta`, `memcached_binary`: memcached
//! requests through `memcache::text::parse` (which hands meta commands to
//! `meta.rs`) and `memcache::binary::parse`, in the loop a memcached
//! connection runs (`server/src/mc_conn.rs`, `run`): parse at the start of
//! the buffer, drop what was consumed, drop the rest of a rejected data
//! block as it arrives (`swallow`), stop at a close.

use memcache::binary::{self, BinParsed};
use memcache::text::{self, Parsed};
use memcache::Limits;

/// Longest binary stream also fed byte by byte.
const MAX_PIECEWISE_BINARY: usize = 4096;

/// What a connection did with one request.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// A request handed to the engine (its `Debug` text).
    Request(String),
    /// A rejection: its reply (or binary status), whether the connection
    /// closes, and the key memcached unlinks.
    Error(String),
}

/// The protocol a connection speaks.
#[derive(Clone, Copy)]
enum Protocol {
    Text,
    Binary,
}

/// One connection's input state, as in `mc_conn.rs`.
struct Connection<'l> {
    protocol: Protocol,
    limits: &'l Limits,
    buf: Vec<u8>,
    swallow: usize,
    closed: bool,
    events: Vec<Event>,
}

impl<'l> Connection<'l> {
    fn new(protocol: Protocol, limits: &'l Limits) -> Self {
        Connection {
            protocol,
            limits,
            buf: Vec::new(),
            swallow: 0,
            closed: false,
            events: Vec::new(),
        }
    }

    /// Bytes arrive: every complete request in the buffer is handled.
    fn receive(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            if self.swallow > 0 {
                let skip = self.swallow.min(self.buf.len());
                self.buf.drain(..skip);
                self.swallow -= skip;
                if self.swallow > 0 {
                    break;
                }
            }
            if self.buf.is_empty() {
                break;
            }
            let consumed = match self.protocol {
                Protocol::Text => self.text_step(),
                Protocol::Binary => self.binary_step(),
            };
            let Some(consumed) = consumed else {
                break;
            };
            self.buf.drain(..consumed);
            if self.closed {
                break;
            }
        }
    }

    /// One `text::parse`; the bytes to drop, None when incomplete.
    fn text_step(&mut self) -> Option<usize> {
        let len = self.buf.len();
        match text::parse(&self.buf, self.limits) {
            Parsed::Incomplete { need } => {
                if let Some(need) = need {
                    assert!(
                        need > len,
                        "incomplete, needing {need} bytes with {len} there"
                    );
                }
                None
            }
            Parsed::Request { req, consumed } => {
                assert!(
                    consumed > 0 && consumed <= len,
                    "request of {consumed} bytes in {len}"
                );
                self.events.push(Event::Request(format!("{req:?}")));
                Some(consumed)
            }
            Parsed::Error(e) => {
                assert!(e.consumed <= len, "error consumed {} of {len}", e.consumed);
                assert!(
                    e.close || e.consumed > 0 || e.swallow > 0,
                    "an error that neither consumes nor closes: the connection would spin"
                );
                self.events.push(Event::Error(format!(
                    "{:?} close={} unlink={:?}",
                    e.reply, e.close, e.unlink
                )));
                self.swallow = e.swallow;
                self.closed = e.close;
                Some(e.consumed)
            }
        }
    }

    /// One `binary::parse`; the bytes to drop, None when incomplete.
    fn binary_step(&mut self) -> Option<usize> {
        let len = self.buf.len();
        match binary::parse(&self.buf, self.limits) {
            BinParsed::Incomplete { need } => {
                assert!(
                    need > len,
                    "incomplete, needing {need} bytes with {len} there"
                );
                None
            }
            BinParsed::Request { req, consumed } => {
                assert!(
                    consumed > 0 && consumed <= len,
                    "request of {consumed} bytes in {len}"
                );
                self.events.push(Event::Request(format!("{req:?}")));
                Some(consumed)
            }
            BinParsed::Error(e) => {
                assert!(e.consumed <= len, "error consumed {} of {len}", e.consumed);
                assert!(
                    e.close || e.consumed > 0 || e.swallow > 0,
                    "an error that neither consumes nor closes: the connection would spin"
                );
                self.events.push(Event::Error(format!(
                    "{:?} opcode={} opaque={} close={} unlink={:?}",
                    e.status, e.opcode, e.opaque, e.close, e.unlink
                )));
                self.swallow = e.swallow;
                self.closed = e.close;
                Some(e.consumed)
            }
        }
    }
}

/// Runs `stream` through a connection arriving at once, and, when
/// `piecewise`, again arriving byte by byte: both must hand over the same
/// requests and errors.
fn run(protocol: Protocol, stream: &[u8], limits: &Limits, piecewise: bool) {
    let mut whole = Connection::new(protocol, limits);
    whole.receive(stream);
    if piecewise {
        let mut bytewise = Connection::new(protocol, limits);
        for b in stream.chunks(1) {
            bytewise.receive(b);
        }
        assert_eq!(
            whole.events, bytewise.events,
            "the stream parses differently arriving byte by byte"
        );
    }
}

/// `memcached_text`: a text-protocol stream (classic and meta commands).
/// A stream no longer than `max_line` is also fed byte by byte (a longer
/// one may legitimately differ: a line without `\n` past `max_line` closes
/// the connection only if it is seen without its end).
pub fn memcached_text(data: &[u8]) {
    let limits = Limits::default();
    run(Protocol::Text, data, &limits, data.len() <= limits.max_line);
}

/// The meta command the first byte of a `memcached_meta` input starts
/// its stream with (low three bits).
const META_PREFIXES: [&[u8]; 8] = [b"mg ", b"ms ", b"md ", b"ma ", b"mn", b"me ", b"", b"m"];

/// `memcached_meta`: the first byte's low three bits pick the meta command
/// the stream starts with (`mg `, `ms `, `md `, `ma `, `mn`, `me `, none,
/// `m`), so the fuzzer spends its time in flag parsing; bit 3 enables the
/// `E` flag (`meta_explicit_cas`). The rest is the stream.
pub fn memcached_meta(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        meta_explicit_cas: selector & 8 != 0,
        ..Limits::default()
    };
    let stream = [META_PREFIXES[usize::from(selector & 7)], rest].concat();
    run(
        Protocol::Text,
        &stream,
        &limits,
        stream.len() <= limits.max_line,
    );
}

/// `memcached_binary`: a binary-protocol stream (length-framed: it must
/// parse the same whole and byte by byte).
pub fn memcached_binary(data: &[u8]) {
    let limits = Limits::default();
    run(
        Protocol::Binary,
        data,
        &limits,
        data.len() <= MAX_PIECEWISE_BINARY,
    );
}
