//! `resp_command`: RESP multibulk and inline requests through
//! `resp::parse_command`, the way a connection (`server/src/conn.rs`,
//! `run_commands`) parses its input buffer, and `resp::split_inline_args`.

use resp::{parse_command, split_inline_args, Limits, Parsed};

/// Longest stream that is also parsed as it arrives in pieces (fed byte by
/// byte, a long inline line is rescanned at every byte: quadratic).
const MAX_PIECEWISE: usize = 4096;

/// What a connection makes of a stream: the commands it runs, in order,
/// and the protocol error that closes it, if any.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Command(Vec<Vec<u8>>),
    Error(Vec<u8>),
}

/// `resp_command`: the first byte holds flags, the rest is what a client
/// sends. Flag bit 0: the client is not authenticated (Redis's small limits
/// before AUTH); bits 1..=7: the stream is parsed a second time arriving in
/// pieces of `1 + (flags >> 1)` bytes, which must run the same commands and
/// end the same way as when it arrives at once. Every line is also split
/// by `split_inline_args`, whose arguments must survive quoting.
pub fn resp_command(data: &[u8]) {
    let Some((&flags, stream)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        authenticated: flags & 1 == 0,
        ..Limits::default()
    };
    let whole = connection(stream, &limits, stream.len().max(1));
    if stream.len() <= MAX_PIECEWISE {
        let piece = 1 + usize::from(flags >> 1);
        let pieces = connection(stream, &limits, piece);
        assert_eq!(
            whole, pieces,
            "the stream parses differently arriving in pieces of {piece} bytes"
        );
    }
    for line in stream.split(|&c| c == b'\n') {
        inline_round_trip(line);
    }
}

/// Runs a connection's parse loop over `stream` arriving `piece` bytes at
/// a time: every complete command in the buffer, then the rest kept for
/// the next read; after an `Incomplete` with a size hint, no parsing until
/// the buffer holds that much (as `conn.rs` waits for a big argument).
fn connection(stream: &[u8], limits: &Limits, piece: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut input: Vec<u8> = Vec::new();
    let mut wait_for = 0;
    let mut ranges = Vec::new();
    let mut inline = Vec::new();
    for chunk in stream.chunks(piece) {
        input.extend_from_slice(chunk);
        if input.len() < wait_for {
            continue;
        }
        wait_for = 0;
        let mut pos = 0;
        while pos < input.len() {
            let available = input.len() - pos;
            match parse_command(&input[pos..], limits, &mut ranges, &mut inline) {
                Ok(Parsed::Command { consumed }) => {
                    assert!(
                        consumed > 0 && consumed <= available,
                        "consumed {consumed} of {available} bytes"
                    );
                    let request = &input[pos..pos + consumed];
                    let args: Vec<Vec<u8>> = if inline.is_empty() {
                        ranges
                            .iter()
                            .map(|r| {
                                assert!(
                                    r.start <= r.end && r.end <= consumed,
                                    "argument {r:?} outside the request of {consumed} bytes"
                                );
                                request[r.clone()].to_vec()
                            })
                            .collect()
                    } else {
                        assert_eq!(ranges.len(), inline.len(), "one range per inline argument");
                        inline.clone()
                    };
                    pos += consumed;
                    // An empty request (`*0`, a blank line) is skipped.
                    if !args.is_empty() {
                        events.push(Event::Command(args));
                    }
                }
                Ok(Parsed::Incomplete { hint }) => {
                    assert!(
                        hint == 0 || hint > available,
                        "incomplete, waiting for {hint} bytes with {available} there"
                    );
                    wait_for = hint;
                    break;
                }
                Err(e) => {
                    // The error is the reply; the connection closes.
                    events.push(Event::Error(e.0));
                    return events;
                }
            }
        }
        input.drain(..pos);
    }
    events
}

/// Arguments split from a line, written back quoted with `\xHH` escapes
/// (as `redis-cli` or `sdscatrepr` may quote them), split the same.
fn inline_round_trip(line: &[u8]) {
    let Some(args) = split_inline_args(line) else {
        return;
    };
    let mut quoted = Vec::new();
    for arg in &args {
        quoted.push(b'"');
        for &c in arg {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            quoted.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ]);
        }
        quoted.extend_from_slice(b"\" ");
    }
    let again = split_inline_args(&quoted).expect("quoted arguments split");
    assert_eq!(again, args, "arguments changed through quoting");
}
