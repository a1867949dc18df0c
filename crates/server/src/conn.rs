//! The connection loop: read, parse every complete command in the buffer,
//! execute them in order, write all replies in one write.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use engine::{Client, ClientShared, Outcome, Server};
use resp::{parse_command, Limits, Parsed};
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_CHUNK: usize = 16 * 1024;
/// A command with an argument this large is split off the input buffer and
/// handed to the engine, so the value can be stored without a copy (Redis
/// reads such arguments into their own buffer for the same reason).
const ADOPT_ARG: usize = 32 * 1024;

/// Hands an accepted connection to a worker thread's runtime.
pub(crate) fn spawn(
    server: Arc<Server>,
    id: u64,
    worker: &tokio::runtime::Handle,
    stream: TcpStream,
    peer: SocketAddr,
) {
    // Move the socket to the worker's reactor.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    worker.spawn(async move {
        let Ok(stream) = TcpStream::from_std(std_stream) else {
            return;
        };
        serve(server, id, stream, peer).await;
    });
}

fn configure(stream: &TcpStream, keepalive_secs: u64) {
    let _ = stream.set_nodelay(true);
    if keepalive_secs > 0 {
        let sock = socket2::SockRef::from(stream);
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(keepalive_secs))
            .with_interval(Duration::from_secs((keepalive_secs / 3).max(1)));
        let _ = sock.set_tcp_keepalive(&ka);
    }
}

async fn serve(server: Arc<Server>, id: u64, mut stream: TcpStream, peer: SocketAddr) {
    let stats = &server.stats;
    stats.connections_received.incr();
    let maxclients = server.config.hot.maxclients.load(Ordering::Relaxed) as usize;
    if server.clients.len() >= maxclients {
        stats.rejected_connections.incr();
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    configure(&stream, server.config.get_i64("tcp-keepalive") as u64);
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fd = {
        use std::os::fd::AsRawFd;
        stream.as_raw_fd()
    };
    let shared = Arc::new(ClientShared::new(
        id,
        peer.to_string(),
        local,
        fd,
        engine::now_ms(),
    ));
    server.clients.register(shared.clone());
    let needs_auth = server.config.hot.has_requirepass.load(Ordering::Relaxed);
    let mut client = Client::new(shared.clone(), !needs_auth);
    // Every connection can receive pushes (pub/sub messages, invalidations
    // redirected to it by other clients).
    let (push_tx, push_rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = shared.push.set(push_tx.clone());
    client.push_tx = Some(push_tx);
    client.push_rx = Some(push_rx);
    let _ = run_loop(&server, &mut client, &mut stream).await;
    engine::tracking::disable(&server, &mut client);
    engine::multi::unwatch_all(&server, &mut client);
    engine::pubsub::unsubscribe_all(&server, &mut client);
    if client.monitor {
        let mut m = server.monitors.lock();
        m.retain(|x| x.client_id != id);
        server.monitor_count.store(m.len(), Ordering::Relaxed);
    }
    server.clients.unregister(id);
}

async fn run_loop(
    server: &Arc<Server>,
    client: &mut Client,
    stream: &mut TcpStream,
) -> std::io::Result<()> {
    let shared = client.shared.clone();
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    // Grows to what the replies need: an idle connection holds little.
    let mut out: Vec<u8> = Vec::new();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut inline: Vec<Vec<u8>> = Vec::new();
    let mut monitor_rx: Option<tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>> = None;
    // Pushes for this client: pub/sub messages, tracking invalidations.
    let mut push_rx = client.push_rx.take();
    let mut pushes: Vec<u8> = Vec::new();
    // Bytes that arrived while a blocking command waited (see wait_blocked).
    let mut stash: Vec<u8> = Vec::new();
    let mut stashed = 0usize;
    let wake = shared.wake.notified();
    tokio::pin!(wake);
    // Parse position hint: total buffer size needed before reparsing a big argument.
    let mut wait_for = 0usize;
    loop {
        if wait_for > inbuf.capacity() {
            // A large argument is on its way: read it into a buffer of
            // exactly its command's size, which a value can then keep.
            let mut fresh = BytesMut::with_capacity(wait_for);
            fresh.extend_from_slice(&inbuf);
            inbuf = fresh;
        } else if inbuf.is_empty() {
            // An idle connection holds no input buffer (Redis frees an idle
            // client's query buffer too): `read_ready` allocates one when
            // data arrives.
            if inbuf.capacity() > 0 {
                inbuf = BytesMut::new();
            }
        } else if wait_for <= inbuf.len() && inbuf.capacity() - inbuf.len() < READ_CHUNK {
            inbuf.reserve(READ_CHUNK);
        }
        // Commands stashed while blocked are already in the buffer: run them
        // before waiting for more input.
        let n = if stashed > 0 {
            std::mem::take(&mut stashed)
        } else {
            let timeout_secs = server.config.hot.timeout_secs.load(Ordering::Relaxed);
            let monitoring = client.monitor;
            let idle_deadline = async {
                if timeout_secs == 0 || monitoring {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(Duration::from_secs(timeout_secs)).await;
            };
            let monitor_line = async {
                match monitor_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let push = async {
                match push_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                r = read_ready(stream, &mut inbuf) => r?,
                _ = &mut wake => {
                    // Registered once and kept across reads (re-armed only
                    // after it fires): no waiter-list churn per request.
                    wake.set(shared.wake.notified());
                    if shared.is_killed() { return Ok(()); }
                    continue;
                }
                line = monitor_line => {
                    if let Some(line) = line {
                        stream.write_all(&line).await?;
                    }
                    continue;
                }
                msg = push => {
                    // Write this message and whatever else is queued at once.
                    pushes.clear();
                    let mut next = msg;
                    while let Some(m) = next {
                        pushes.extend_from_slice(&m);
                        if pushes.len() >= READ_CHUNK * 4 {
                            break;
                        }
                        next = push_rx.as_mut().and_then(|rx| rx.try_recv().ok());
                    }
                    // A subscriber that stopped reading can be cut off
                    // (output buffer limit) while this write waits.
                    let mut written = 0;
                    while written < pushes.len() {
                        tokio::select! {
                            r = stream.write(&pushes[written..]) => written += r?,
                            _ = &mut wake => {
                                wake.set(shared.wake.notified());
                                if shared.is_killed() { return Ok(()); }
                            }
                        }
                    }
                    shared.push_pending.fetch_sub(pushes.len(), Ordering::AcqRel);
                    server.stats.net_output_bytes.add(pushes.len() as u64);
                    if pushes.capacity() > 1024 * 1024 {
                        pushes = Vec::new();
                    }
                    continue;
                }
                _ = idle_deadline => return Ok(()),
            }
        };
        if n == 0 {
            return Ok(());
        }
        if shared.is_killed() || server.shutdown.load(Ordering::Acquire) {
            return Ok(());
        }
        server.stats.net_input_bytes.add(n as u64);
        server.stats.total_reads.incr();
        let limit = server
            .config
            .hot
            .client_query_buffer_limit
            .load(Ordering::Relaxed);
        if inbuf.len() as u64 > limit {
            // Like Redis: a client whose query buffer outgrows the limit is closed.
            server.stats.client_query_buffer_limit_disconnections.incr();
            return Ok(());
        }
        if inbuf.len() < wait_for {
            continue;
        }
        wait_for = 0;

        // Pushes queued before these commands run (invalidations, messages)
        // go out ahead of their replies, as one output buffer would order them.
        if let Some(rx) = push_rx.as_mut() {
            while let Ok(m) = rx.try_recv() {
                out.extend_from_slice(&m);
                shared.push_pending.fetch_sub(m.len(), Ordering::AcqRel);
            }
        }
        let limits = Limits {
            max_bulk_len: server.config.hot.proto_max_bulk_len.load(Ordering::Relaxed),
            authenticated: client.authenticated,
        };
        let mut pos = 0;
        let mut close = false;
        while pos < inbuf.len() {
            match parse_command(&inbuf[pos..], &limits, &mut ranges, &mut inline) {
                Ok(Parsed::Command { consumed }) => {
                    // CLIENT LIST's qbuf counts the running command, as in Redis.
                    shared.qbuf.store(inbuf.len() - pos, Ordering::Relaxed);
                    // A large argument: the command's bytes leave the input
                    // buffer (no copy) so a value can keep them.
                    // Only when the buffer holds little else, which the
                    // value would keep alive too.
                    let adopt = inline.is_empty()
                        && pos == 0
                        && inbuf.capacity() <= consumed + READ_CHUNK
                        && ranges.iter().any(|r| r.len() >= ADOPT_ARG);
                    let frozen = adopt.then(|| {
                        let mut head = inbuf.split_to(pos + consumed);
                        head.advance(pos);
                        pos = 0;
                        head.freeze()
                    });
                    client.arg_buf = frozen.clone();
                    // Arguments point into the input buffer (no copies).
                    let (src, base): (&[u8], usize) = match &frozen {
                        Some(b) => (b, 0),
                        None => (&inbuf, pos),
                    };
                    let mut args: SmallVec<[&[u8]; 16]> = SmallVec::new();
                    if inline.is_empty() {
                        args.extend(ranges.iter().map(|r| &src[base + r.start..base + r.end]));
                    } else {
                        args.extend(inline.iter().map(|v| v.as_slice()));
                    }
                    if !adopt {
                        pos += consumed;
                    }
                    if args.is_empty() {
                        continue;
                    }
                    loop {
                        match engine::execute(server, client, &args, &mut out) {
                            Outcome::Done => break,
                            Outcome::Paused(ms) => {
                                // Flush what we have, then wait for the pause to end;
                                // meanwhile the client counts as blocked (INFO blocked_clients).
                                if !out.is_empty() {
                                    engine::aof::before_reply(server);
                                    stream.write_all(&out).await?;
                                    out.clear();
                                }
                                shared
                                    .blocked_since
                                    .store(engine::now_ms() as i64, Ordering::Relaxed);
                                let wait = Duration::from_millis(ms.min(100));
                                let _ =
                                    tokio::time::timeout(wait, server.pause.unpaused.notified())
                                        .await;
                                shared.blocked_since.store(0, Ordering::Relaxed);
                            }
                        }
                    }
                    if client.blocked.is_some() {
                        if !out.is_empty() {
                            engine::aof::before_reply(server);
                            stream.write_all(&out).await?;
                            out.clear();
                        }
                        if !wait_blocked(
                            server,
                            client,
                            &args,
                            &mut out,
                            stream,
                            &mut stash,
                            &shared,
                            wake.as_mut(),
                        )
                        .await
                        {
                            return Ok(());
                        }
                    }
                    if let Some(rx) = client.push_rx.take() {
                        push_rx = Some(rx);
                    }
                    if client.monitor && monitor_rx.is_none() {
                        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                        let mut m = server.monitors.lock();
                        m.push(engine::Monitor {
                            client_id: client.id(),
                            tx,
                        });
                        server.monitor_count.store(m.len(), Ordering::Relaxed);
                        monitor_rx = Some(rx);
                    }
                    client.arg_buf = None;
                    if client.close_after_reply {
                        close = true;
                        break;
                    }
                }
                Ok(Parsed::Incomplete { hint }) => {
                    // A big argument is still arriving: wait for all of it
                    // before parsing again (no quadratic reparsing or copying).
                    wait_for = if hint > 0 { pos + hint } else { 0 };
                    break;
                }
                Err(e) => {
                    // Like Redis: reply with the error, then close.
                    resp::ReplyWriter::new(&mut out, client.proto).error_bytes(&e.0);
                    server.count_error(&e.0);
                    close = true;
                    break;
                }
            }
        }
        if pos > 0 {
            inbuf.advance(pos);
            if wait_for > 0 {
                wait_for -= pos;
            }
        }
        if !stash.is_empty() {
            stashed = stash.len();
            inbuf.extend_from_slice(&stash);
            stash.clear();
        }
        shared.qbuf.store(inbuf.len(), Ordering::Relaxed);
        if !out.is_empty() {
            engine::aof::before_reply(server);
            stream.write_all(&out).await?;
            server.stats.net_output_bytes.add(out.len() as u64);
            server.stats.total_writes.incr();
            if out.capacity() > 4 * READ_CHUNK {
                out = Vec::new();
            } else {
                out.clear();
            }
        }
        if close {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        // A command with very many arguments leaves a big argument index
        // behind: give it back (it counts in used_memory).
        if ranges.capacity() > 4096 {
            ranges = Vec::new();
        }
    }
}

/// Reads what has arrived into `inbuf`, giving it a read chunk of room
/// only once the socket is readable (an idle connection holds none).
pub(crate) async fn read_ready(
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
) -> std::io::Result<usize> {
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

/// Waits while a blocking command is parked on its keys: until a key it waits
/// for is written (then the command runs again, and may park again), its
/// timeout, CLIENT UNBLOCK, or the connection's end. Returns false when the
/// connection must close.
#[allow(clippy::too_many_arguments)]
async fn wait_blocked<'w>(
    server: &Arc<Server>,
    client: &mut Client,
    args: &[&[u8]],
    out: &mut Vec<u8>,
    stream: &mut TcpStream,
    stash: &mut Vec<u8>,
    shared: &'w Arc<ClientShared>,
    mut wake: std::pin::Pin<&mut tokio::sync::futures::Notified<'w>>,
) -> bool {
    let Some(mut blocked) = client.blocked.take() else {
        return true;
    };
    let deadline = blocked.deadline_ms;
    shared
        .blocked_since
        .store(engine::now_ms() as i64, Ordering::Relaxed);
    let ready = &server.keyspace.ready;
    let keep_open = loop {
        let timeout = async {
            match deadline {
                Some(d) => {
                    let left = d.saturating_sub(engine::now_ms());
                    tokio::time::sleep(Duration::from_millis(left)).await
                }
                None => std::future::pending().await,
            }
        };
        let timed_out = tokio::select! {
            _ = &mut wake => {
                wake.set(shared.wake.notified());
                false
            }
            // Keep reading so a client that goes away is noticed; what it
            // sends meanwhile runs after the blocking command completes.
            r = stream.read_buf(stash) => {
                if matches!(r, Ok(0) | Err(_)) {
                    ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
                    break false;
                }
                false
            }
            _ = timeout => true,
            _ = server.shutdown_notify.notified() => {
                ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
                break false;
            }
        };
        if shared.is_killed() {
            ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
            break false;
        }
        let unblock = shared.unblock.swap(0, Ordering::AcqRel);
        if timed_out || unblock != 0 {
            ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
            let mut w = resp::ReplyWriter::new(out, client.proto);
            if unblock == 2 {
                w.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            } else if blocked.timeout_null_array {
                w.null_array();
            } else {
                w.null();
            }
            break true;
        }
        if blocked.woken.load(Ordering::Acquire) {
            // A stream reader keeps its place in the queues while it runs
            // again (if it finds nothing, its new registration takes that
            // place); other commands leave and re-queue at the front.
            let keeps_place = blocked.rerun_args.is_some();
            if !keeps_place {
                ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
            }
            client.block_retry = true;
            match &blocked.rerun_args {
                Some(rerun) => {
                    let rerun: Vec<&[u8]> = rerun.iter().map(|a| a.as_slice()).collect();
                    engine::execute(server, client, &rerun, out);
                }
                None => {
                    engine::execute(server, client, args, out);
                }
            }
            client.block_retry = false;
            match client.blocked.take() {
                None => {
                    // Served, or answered with an error (a destination of
                    // the wrong type): whatever is left in the keys is for
                    // the next waiter, as Redis serves every blocked client
                    // the key can satisfy.
                    if keeps_place {
                        ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
                    }
                    for key in &blocked.keys {
                        ready.signal(blocked.db, key);
                    }
                    break true;
                }
                Some(mut again) => {
                    again.deadline_ms = deadline;
                    if again.rerun_args.is_none() {
                        again.rerun_args = blocked.rerun_args.take();
                    }
                    if keeps_place {
                        // Nothing for this reader: the one behind it may
                        // wait for something else (Redis serves every
                        // stream reader the write satisfies).
                        ready.signal_behind(again.db, &again.keys, &again.waiter);
                    }
                    blocked = again;
                }
            }
        }
    };
    shared.blocked_since.store(0, Ordering::Relaxed);
    keep_open
}
