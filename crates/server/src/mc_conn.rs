//! A memcached connection served by its worker's event loop (`worker.rs`, as
//! Redis connections are): read, parse every complete text/meta request in the
//! buffer (`memcache::text::parse`), execute each on the shared [`Memcached`]
//! engine, and write all replies in one write.
//!
//! memcached decides the protocol per connection from its first byte: `0x80` is the binary
//! protocol (`memcache::binary::parse`, executed by `Memcached::execute_binary`), anything
//! else the text and meta protocols.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use engine::memcached::{McSession, Memcached, Step, WatchSink};
use memcache::auth::AuthParsed;
use memcache::binary::BinParsed;
use memcache::reply;
use memcache::text::{self, Parsed};

use crate::conn::READ_CHUNK;
use crate::tls::Transport;

/// Output past which a connection's remaining requests wait.
const MAX_UNSENT: usize = 1 << 20;

pub(crate) struct McConn {
    transport: Transport,
    mc: Arc<Memcached>,
    session: McSession,
    /// Allocated when data arrives, grown to what replies need: an idle
    /// connection holds neither.
    buf: BytesMut,
    out: Vec<u8>,
    written: usize,
    /// Bytes of a rejected data block still to drop as they arrive.
    swallow: usize,
    /// The protocol is known (memcached picks it once, from the first byte).
    started: bool,
    binary: bool,
    closing: bool,
    /// A `watch` connection: log lines arrive here; its input is ignored,
    /// as memcached does.
    watch: Option<Arc<WatchSink>>,
    wake: Arc<dyn Fn() + Send + Sync>,
    /// The peer shut down its side (or the socket failed): read until EOF.
    pub(crate) peer_closed: bool,
    /// Stopped writing at the end of its turn: served again soon.
    turn_over: bool,
}

impl McConn {
    /// Registers an accepted connection, or refuses it past `-c`.
    pub(crate) fn open(
        mc: &Arc<Memcached>,
        stream: std::net::TcpStream,
        tls: Option<&crate::tls::TlsContext>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Option<McConn> {
        let stats = &mc.stats;
        stats.total_connections.incr();
        let current = stats.curr_connections.fetch_add(1, Ordering::Relaxed) + 1;
        if current as u64 > mc.settings.max_conns {
            stats.rejected_connections.incr();
            stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
            let _ = (&stream).write(b"ERROR Too many open connections\r\n");
            return None;
        }
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let Some(transport) = Transport::for_accepted(stream, tls) else {
            stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
            return None;
        };
        let session = mc.open_session(peer, local);
        Some(McConn {
            transport,
            mc: mc.clone(),
            session,
            buf: BytesMut::new(),
            out: Vec::new(),
            written: 0,
            swallow: 0,
            started: false,
            binary: false,
            closing: false,
            watch: None,
            wake,
            peer_closed: false,
            turn_over: false,
        })
    }

    /// Whether the connection is between requests, with nothing half read
    /// or half written, so another worker can take it over.
    pub(crate) fn movable(&self) -> bool {
        self.buf.is_empty()
            && self.out.is_empty()
            && self.swallow == 0
            && self.watch.is_none()
            && !self.closing
            && !self.peer_closed
            && !self.transport.has_pending_output()
    }

    pub(crate) fn socket(&mut self) -> &mut mio::net::TcpStream {
        self.transport.socket()
    }

    /// Serves the connection after an event or a wake-up. Returns false when
    /// it must close.
    pub(crate) fn serve(&mut self) -> bool {
        if self.mc.server.shutdown.load(Ordering::Acquire) {
            return false;
        }
        let mut drained = false;
        loop {
            match self.flush() {
                Ok(true) => {}
                Ok(false) => return true,
                Err(_) => return false,
            }
            if self.closing {
                self.transport.shutdown_write();
                return false;
            }
            if let Some(sink) = &self.watch {
                sink.take(&mut self.out);
                if !self.out.is_empty() {
                    continue;
                }
                // Input is read only to notice the client going away.
                self.buf.clear();
                match self.read() {
                    Some(true) => return true,
                    Some(false) => continue,
                    None => return false,
                }
            }
            // The last read found the socket empty and everything it
            // brought is answered and written: wait for the next event
            // rather than read again to learn that nothing came.
            if drained && self.out.is_empty() {
                if self.buf.is_empty() && self.buf.capacity() > 0 {
                    self.buf = BytesMut::new();
                }
                return true;
            }
            let Some(read_all) = self.read() else {
                return false;
            };
            drained = self.run() && read_all;
        }
    }

    /// Reads what has arrived. Returns whether the socket is drained; None
    /// at the end of input.
    fn read(&mut self) -> Option<bool> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        let space = self.buf.capacity() - self.buf.len();
        match self.transport.read_some(&mut self.buf) {
            Ok(0) => None,
            Ok(n) => {
                self.mc.stats.bytes_read.add(n as u64);
                Some(n < space && !self.peer_closed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Some(true),
            Err(_) => None,
        }
    }

    /// Runs every complete request in the buffer. Returns false when it
    /// stopped with requests left because the output is full.
    fn run(&mut self) -> bool {
        let mc = &self.mc;
        let buf = &mut self.buf;
        let out = &mut self.out;
        if !self.started && !buf.is_empty() {
            self.started = true;
            self.binary = mc.settings.protocol.binary(buf[0]);
            if !self.binary && mc.settings.sasl_users.is_some() {
                // SASL authentication exists only in the binary protocol.
                out.extend_from_slice(b"CLIENT_ERROR unauthenticated\r\n");
                self.closing = true;
                return true;
            }
        }
        let limits = &mc.settings.limits;
        loop {
            // Replies the client has not read yet stop the requests behind
            // them (as memcached does): they run once the output drains, so
            // a client that pipelines without reading holds little memory.
            if out.len() >= MAX_UNSENT {
                return false;
            }
            if self.swallow > 0 {
                let skip = self.swallow.min(buf.len());
                buf.advance(skip);
                self.swallow -= skip;
                if self.swallow > 0 {
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
            let (consumed, step) = if self.binary {
                match memcache::binary::parse(buf, limits) {
                    BinParsed::Incomplete { need } => {
                        buf.reserve(need.saturating_sub(buf.len()));
                        break;
                    }
                    BinParsed::Request { req, consumed } => {
                        (consumed, mc.execute_binary(req, &mut self.session, out))
                    }
                    BinParsed::Error(e) => {
                        if let Some(status) = e.status {
                            memcache::binary::write_error(out, e.opcode, e.opaque, status);
                        }
                        if let Some(k) = e.unlink {
                            mc.unlink(k);
                        }
                        self.swallow = e.swallow;
                        let step = if e.close { Step::Close } else { Step::Continue };
                        (e.consumed, step)
                    }
                }
            } else if mc.needs_text_login(&self.session) {
                match memcache::auth::parse(buf) {
                    AuthParsed::Incomplete => break,
                    AuthParsed::Close => (buf.len(), Step::Close),
                    AuthParsed::Reply { consumed, reply } => {
                        reply::line(out, reply);
                        (consumed, Step::Continue)
                    }
                    AuthParsed::Credentials {
                        consumed,
                        user,
                        password,
                    } => {
                        mc.text_login(user, password, &mut self.session, out);
                        (consumed, Step::Continue)
                    }
                }
            } else {
                match text::parse(buf, limits) {
                    Parsed::Incomplete { need } => {
                        if let Some(need) = need {
                            buf.reserve(need.saturating_sub(buf.len()));
                        }
                        break;
                    }
                    Parsed::Request { req, consumed } => {
                        (consumed, mc.execute(req, &self.session, out))
                    }
                    Parsed::Error(e) => {
                        if let Some(r) = e.reply {
                            reply::line(out, r);
                        }
                        if let Some(k) = &e.unlink {
                            mc.unlink(k);
                        }
                        self.swallow = e.swallow;
                        let step = if e.close { Step::Close } else { Step::Continue };
                        (e.consumed, step)
                    }
                }
            };
            buf.advance(consumed.min(buf.len()));
            match step {
                Step::Continue => {}
                Step::Close => {
                    self.closing = true;
                    break;
                }
                Step::Watch(flags) => {
                    // Registered before its OK goes out: a client that has
                    // read the OK sees every line logged after it.
                    let wake = self.wake.clone();
                    self.watch = Some(mc.add_watcher(flags, Box::new(move || wake())));
                    break;
                }
            }
        }
        true
    }

    /// Writes pending output. Ok(true): all written; Ok(false): the socket
    /// is full (the rest goes out on the next writable event).
    fn flush(&mut self) -> std::io::Result<bool> {
        if self.out.is_empty() && !self.transport.has_pending_output() {
            return Ok(true);
        }
        let Some(n) =
            self.transport
                .write_out(&mut self.out, &mut self.written, &mut self.turn_over)?
        else {
            return Ok(false);
        };
        self.mc.stats.bytes_written.add(n as u64);
        Ok(true)
    }

    /// Whether the connection stopped writing at the end of its turn;
    /// clears it.
    pub(crate) fn take_turn_over(&mut self) -> bool {
        std::mem::take(&mut self.turn_over)
    }

    /// Ends the connection: `stats conns` and `curr_connections` forget it.
    pub(crate) fn close(self) {
        if let Some(sink) = &self.watch {
            sink.close();
        }
        self.mc.close_session(&self.session);
        self.mc
            .stats
            .curr_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}
