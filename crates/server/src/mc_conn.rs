//! The memcached connection loop: read, parse every complete text/meta request in the
//! buffer (`memcache::text::parse`), execute each on the shared [`Memcached`] engine, and
//! write all replies in one write. It runs on the same worker threads as Redis
//! connections (see `lib.rs`).
//!
//! memcached decides the protocol per connection from its first byte: `0x80` is the binary
//! protocol (`memcache::binary::parse`, executed by `Memcached::execute_binary`), anything
//! else the text and meta protocols.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use engine::memcached::{McSession, Memcached, Step};
use memcache::binary::BinParsed;
use memcache::reply;
use memcache::text::{self, Parsed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_CHUNK: usize = 16 * 1024;

/// Hands an accepted connection to a worker thread's runtime.
pub(crate) fn spawn(mc: Arc<Memcached>, worker: &tokio::runtime::Handle, stream: TcpStream) {
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    worker.spawn(async move {
        let Ok(stream) = TcpStream::from_std(std_stream) else {
            return;
        };
        serve(mc, stream).await;
    });
}

/// Unregisters the connection (`stats conns`) however it ends.
struct SessionGuard(Arc<Memcached>, u64);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.close_session(&McSession {
            id: self.1,
            ..McSession::default()
        });
    }
}

/// Keeps `curr_connections` right however the connection ends.
struct ConnGuard(Arc<Memcached>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0
            .stats
            .curr_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(mc: Arc<Memcached>, mut stream: TcpStream) {
    let stats = &mc.stats;
    stats.total_connections.incr();
    let current = stats.curr_connections.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = ConnGuard(mc.clone());
    if current as u64 > mc.settings.max_conns {
        stats.rejected_connections.incr();
        let _ = stream
            .write_all(b"ERROR Too many open connections\r\n")
            .await;
        return;
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
    let mut session = mc.open_session(peer, local);
    let _registered = SessionGuard(mc.clone(), session.id);
    let limits = mc.settings.limits.clone();
    // Allocated when data arrives, grown to what replies need: an idle
    // connection holds neither.
    let mut buf = BytesMut::new();
    let mut out: Vec<u8> = Vec::new();
    // Bytes of a rejected data block still to drop as they arrive.
    let mut swallow = 0usize;
    let mut first = true;
    let mut binary = false;
    loop {
        if buf.is_empty() {
            if buf.capacity() > 0 {
                buf = BytesMut::new();
            }
        } else if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let shutdown = mc.server.shutdown_notify.notified();
        if mc.server.shutdown.load(Ordering::Acquire) {
            return;
        }
        let n = tokio::select! {
            r = read_ready(&mut stream, &mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = shutdown => return,
        };
        stats.bytes_read.add(n as u64);
        if first {
            first = false;
            // memcached picks the protocol once per connection, from its first byte.
            binary = buf.first() == Some(&memcache::binary::REQUEST_MAGIC);
            if !binary && mc.settings.sasl_users.is_some() {
                // SASL authentication exists only in the binary protocol.
                let _ = stream.write_all(b"CLIENT_ERROR unauthenticated\r\n").await;
                return;
            }
        }
        let mut close = false;
        let mut watch = None;
        loop {
            if swallow > 0 {
                let skip = swallow.min(buf.len());
                buf.advance(skip);
                swallow -= skip;
                if swallow > 0 {
                    break;
                }
            }
            let (consumed, step) = if binary {
                match memcache::binary::parse(&buf, &limits) {
                    BinParsed::Incomplete { need } => {
                        buf.reserve(need.saturating_sub(buf.len()));
                        break;
                    }
                    BinParsed::Request { req, consumed } => {
                        (consumed, mc.execute_binary(req, &mut session, &mut out))
                    }
                    BinParsed::Error(e) => {
                        if let Some(status) = e.status {
                            memcache::binary::write_error(&mut out, e.opcode, e.opaque, status);
                        }
                        if let Some(k) = e.unlink {
                            mc.unlink(k);
                        }
                        swallow = e.swallow;
                        let step = if e.close { Step::Close } else { Step::Continue };
                        (e.consumed, step)
                    }
                }
            } else {
                match text::parse(&buf, &limits) {
                    Parsed::Incomplete { need } => {
                        if let Some(need) = need {
                            buf.reserve(need.saturating_sub(buf.len()));
                        }
                        break;
                    }
                    Parsed::Request { req, consumed } => {
                        (consumed, mc.execute(req, &session, &mut out))
                    }
                    Parsed::Error(e) => {
                        if let Some(r) = e.reply {
                            reply::line(&mut out, r);
                        }
                        if let Some(k) = &e.unlink {
                            mc.unlink(k);
                        }
                        swallow = e.swallow;
                        let step = if e.close { Step::Close } else { Step::Continue };
                        (e.consumed, step)
                    }
                }
            };
            buf.advance(consumed.min(buf.len()));
            match step {
                Step::Continue => {}
                Step::Close => {
                    close = true;
                    break;
                }
                Step::Watch(flags) => {
                    // Registered before its OK goes out: a client that has
                    // read the OK sees every line logged after it.
                    watch = Some(mc.add_watcher(flags));
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
        }
        if !out.is_empty() {
            stats.bytes_written.add(out.len() as u64);
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
            if out.capacity() > 4 * READ_CHUNK {
                out = Vec::new();
            }
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
        if let Some(lines) = watch {
            stream_watch(&mc, stream, lines).await;
            return;
        }
    }
}

/// A `watch` connection: forwards log lines until the client goes away (its input is
/// ignored, as memcached does).
async fn stream_watch(
    mc: &Memcached,
    mut stream: TcpStream,
    mut lines: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut sink = [0u8; 1024];
    loop {
        let shutdown = mc.server.shutdown_notify.notified();
        if mc.server.shutdown.load(Ordering::Acquire) {
            return;
        }
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else { return };
                if stream.write_all(&line).await.is_err() {
                    return;
                }
            }
            r = stream.read(&mut sink) => {
                if matches!(r, Ok(0) | Err(_)) {
                    return;
                }
            }
            _ = shutdown => return,
        }
    }
}

/// Reads what has arrived into `inbuf`, giving it a read chunk of room
/// only once the socket is readable (an idle connection holds none).
async fn read_ready(stream: &mut TcpStream, inbuf: &mut BytesMut) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        std::task::ready!(stream.poll_read_ready(cx))?;
        if inbuf.capacity() == inbuf.len() {
            inbuf.reserve(READ_CHUNK);
        }
        // Polled once on a readable socket: tokio's read (which notes a
        // short read as having drained the socket, sparing a syscall).
        std::future::Future::poll(std::pin::pin!(stream.read_buf(&mut *inbuf)), cx)
    })
    .await
}
