//! A buffered test connection for scenarios that read many frames
//! (subscribers, tracking clients): one [`Conn`] per client, every reply or
//! pushed frame read whole, every failure message naming the server
//! (`redis-server` or `ferrocache`) it came from. Shared by tests/pubsub.rs
//! and tests/tracking.rs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::diff::{describe, show, Node};
use super::{encode, info_field, Proc};

/// How long a reply or an expected message may take before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a connection must stay silent to count as "nothing (more) came".
pub const QUIET: Duration = Duration::from_millis(100);

/// A connection with a buffered reader (subscribers read many frames).
pub struct Conn {
    /// The server's name in failure messages.
    pub server: &'static str,
    /// The protocol chosen at [`Conn::open`] (2, or 3 after `HELLO 3`).
    pub proto: u8,
    pub writer: TcpStream,
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `node` with a [`READ_TIMEOUT`] read timeout and a 10 s
    /// write timeout; `proto` 3 sends `HELLO 3` first.
    pub fn open(node: &Proc, server: &'static str, proto: u8) -> Conn {
        let stream = TcpStream::connect(node.addr()).expect("connect");
        stream.set_nodelay(true).ok();
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let reader = BufReader::with_capacity(64 * 1024, stream.try_clone().expect("clone"));
        let mut c = Conn {
            server,
            proto,
            writer: stream,
            reader,
        };
        if proto == 3 {
            let hello = c.call(&["HELLO", "3"]);
            assert!(
                hello.starts_with(b"%"),
                "{server}: HELLO 3: {}",
                show(&hello)
            );
        }
        c
    }

    /// Sends a command encoded as a RESP multibulk (no reply read).
    pub fn send(&mut self, args: &[&[u8]]) {
        self.writer.write_all(&encode(args)).expect("write");
    }

    /// The next frame, or the error (timeout, closed connection).
    pub fn try_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        read_value(&mut self.reader, &mut out)?;
        Ok(out)
    }

    /// The next frame; fails the test on a timeout or a closed connection.
    pub fn frame(&mut self, what: &str) -> Vec<u8> {
        self.try_frame()
            .unwrap_or_else(|e| panic!("{}: {what}: no frame ({e})", self.server))
    }

    /// Sends a command and reads the next frame as its reply.
    pub fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&bytes);
        self.frame(&describe(args))
    }

    /// The reply to `args` is exactly `want`.
    pub fn expect(&mut self, args: &[&str], want: &[u8]) {
        let got = self.call(args);
        assert_eq!(
            show(&got),
            show(want),
            "{} (RESP{}): {}",
            self.server,
            self.proto,
            args.join(" ")
        );
    }

    /// The reply to `args` is `+OK`.
    pub fn ok(&mut self, args: &[&str]) {
        let r = self.call(args);
        assert_eq!(
            r,
            b"+OK\r\n",
            "{}: {}: {}",
            self.server,
            describe(args),
            show(&r)
        );
    }

    /// An integer reply's value.
    pub fn int(&mut self, args: &[&str]) -> i64 {
        let got = self.call(args);
        let text = String::from_utf8_lossy(&got);
        text.strip_prefix(':')
            .and_then(|t| t.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("{}: {}: not an integer: {text}", self.server, args[0]))
    }

    /// A bulk (or verbatim) string reply's text.
    pub fn text(&mut self, args: &[&str]) -> String {
        let got = self.call(args);
        let node = Node::parse_exact(&got);
        let body = String::from_utf8_lossy(&node.body).into_owned();
        let body = body.strip_suffix("\r\n").unwrap_or(&body).to_string();
        match node.head[0] {
            b'$' => body,
            b'=' => body[4..].to_string(),
            _ => panic!("{}: {}: not a bulk: {}", self.server, args[0], show(&got)),
        }
    }

    /// The INFO field `name`, as a number.
    pub fn info_num(&mut self, name: &str) -> i64 {
        let info = self.call(&["INFO", "everything"]);
        let text = String::from_utf8_lossy(&info).into_owned();
        info_field(&text, name)
            .unwrap_or_else(|| panic!("{}: INFO has no {name}", self.server))
            .parse()
            .expect("a number")
    }

    /// PUBLISH: the number of receivers.
    pub fn publish(&mut self, channel: &[u8], payload: &[u8]) -> i64 {
        self.send(&[b"PUBLISH", channel, payload]);
        let got = self.frame("PUBLISH");
        let text = String::from_utf8_lossy(&got);
        text.strip_prefix(':')
            .and_then(|t| t.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("{}: PUBLISH: not an integer: {text}", self.server))
    }

    /// Sends a (P|S)SUBSCRIBE and reads one confirmation per channel,
    /// skipping messages that arrive in between.
    pub fn subscribe(&mut self, cmd: &str, channels: &[&str]) {
        let mut args = vec![cmd];
        args.extend_from_slice(channels);
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&bytes);
        let kind = cmd.to_ascii_lowercase();
        let mut confirmed = 0;
        while confirmed < channels.len() {
            let f = self.frame(cmd);
            let n = Node::parse_exact(&f);
            let first = n.kids.first().map(Node::text).unwrap_or_default();
            if matches!(first.as_str(), "message" | "pmessage" | "smessage") {
                continue;
            }
            assert_eq!(first, kind, "{}: {cmd}: {}", self.server, show(&f));
            assert_eq!(
                n.kids[1].text(),
                channels[confirmed],
                "{}: {cmd}: {}",
                self.server,
                show(&f)
            );
            confirmed += 1;
        }
    }

    /// Whatever arrives within `wait`.
    pub fn pending(&mut self, wait: Duration) -> Vec<u8> {
        let mut out = self.reader.buffer().to_vec();
        self.reader.consume(out.len());
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 8192];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.writer.set_read_timeout(Some(left)).expect("timeout");
            match self.reader.get_mut().read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        self.writer
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        out
    }

    /// Not a byte arrives within [`QUIET`].
    pub fn expect_nothing(&mut self, what: &str) {
        let got = self.pending(QUIET);
        assert!(
            got.is_empty(),
            "{}: {what}: unexpected {}",
            self.server,
            show(&got)
        );
    }

    /// No complete frame arrives within 200 ms.
    pub fn expect_no_frame(&mut self, what: &str) {
        self.writer
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let got = self.try_frame();
        self.writer
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        if let Ok(f) = got {
            panic!("{}: {what}: unexpected {}", self.server, show(&f));
        }
    }

    /// Reads until the server closes the connection: the bytes read, or an
    /// error if it is still open after `timeout`.
    pub fn read_to_eof(&mut self, timeout: Duration) -> Result<usize, String> {
        let mut total = self.reader.buffer().len();
        self.reader.consume(total);
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("still open after {timeout:?}, {total} bytes read"));
            }
            self.writer.set_read_timeout(Some(left)).expect("timeout");
            match self.reader.get_mut().read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(total),
                Err(e) => return Err(format!("{e} ({total} bytes read)")),
            }
        }
    }
}

/// Reads one complete RESP value into `out`.
fn read_value(r: &mut impl BufRead, out: &mut Vec<u8>) -> std::io::Result<()> {
    let start = out.len();
    if r.read_until(b'\n', out)? == 0 || !out.ends_with(b"\r\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed inside a frame",
        ));
    }
    let line = &out[start..out.len() - 2];
    let kind = line[0];
    let n: i64 = std::str::from_utf8(&line[1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match kind {
        b'$' | b'=' | b'!' if n >= 0 => {
            let at = out.len();
            out.resize(at + n as usize + 2, 0);
            r.read_exact(&mut out[at..])?;
        }
        b'*' | b'~' | b'>' if n > 0 => {
            for _ in 0..n {
                read_value(r, out)?;
            }
        }
        b'%' | b'|' if n > 0 => {
            for _ in 0..2 * n {
                read_value(r, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}
