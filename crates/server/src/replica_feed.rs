//! Feeding one replica, on a thread of its own (blocking I/O): after PSYNC
//! or SYNC the connection leaves its worker's event loop (replicas are few,
//! and a snapshot transfer is a long write). The thread answers
//! +CONTINUE and resumes from the backlog, or answers +FULLRESYNC and
//! streams a snapshot (diskless, `$EOF:` framing, when the replica can
//! take it and `repl-diskless-sync` is on; otherwise saved to the RDB file
//! and sent as one bulk string); then it sends the stream as it grows. A
//! second thread reads the replica's REPLCONF ACKs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use engine::client::ClientShared;
use engine::replication::{self, ReplicaInfo, ReplicaRequest, SnapshotTransfer};
use engine::Server;

use crate::tls::{SharedTls, SharedTlsReader, SharedTlsWriter};

/// Stream bytes sent per write.
const SEND_CHUNK: usize = 256 << 10;
/// After a write, the stream gathers this long before the next: under a
/// write load, one wake-up and one send carry many commands.
const COALESCE_US: u64 = 200;

/// A replica's connection: plain, or a TLS session shared by the thread
/// that sends the stream and the one that reads acknowledgements.
pub(crate) enum FeedStream {
    Plain(TcpStream),
    Tls(Arc<SharedTls>),
}

impl FeedStream {
    fn socket(&self) -> &TcpStream {
        match self {
            FeedStream::Plain(s) => s,
            FeedStream::Tls(t) => t.socket(),
        }
    }

    fn writer(&self) -> std::io::Result<FeedWriter> {
        Ok(match self {
            FeedStream::Plain(s) => FeedWriter::Plain(s.try_clone()?),
            FeedStream::Tls(t) => FeedWriter::Tls(SharedTlsWriter(t.clone())),
        })
    }

    fn reader(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            FeedStream::Plain(s) => Box::new(s.try_clone()?),
            FeedStream::Tls(t) => Box::new(SharedTlsReader::new(t.clone())?),
        })
    }
}

/// Where the stream is written. A TLS writer may keep encrypted bytes
/// queued when the socket times out: `flush` sends them.
enum FeedWriter {
    Plain(TcpStream),
    Tls(SharedTlsWriter),
}

impl FeedWriter {
    fn try_clone(&self) -> std::io::Result<FeedWriter> {
        Ok(match self {
            FeedWriter::Plain(s) => FeedWriter::Plain(s.try_clone()?),
            FeedWriter::Tls(t) => FeedWriter::Tls(t.clone()),
        })
    }
}

impl Write for FeedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            FeedWriter::Plain(s) => s.write(buf),
            FeedWriter::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            FeedWriter::Plain(s) => s.flush(),
            FeedWriter::Tls(t) => t.flush(),
        }
    }
}

/// Takes over the connection of a replica that sent PSYNC or SYNC.
pub(crate) fn start(
    server: &Arc<Server>,
    stream: FeedStream,
    shared: Arc<ClientShared>,
    request: ReplicaRequest,
) {
    let info = replication::add_replica(server, shared, &request);
    let srv = server.clone();
    let spawned = std::thread::Builder::new()
        .name("replica-feed".into())
        .spawn(move || {
            if let Err(e) = feed(&srv, &stream, &info, &request) {
                tracing::warn!(
                    "Connection with replica {}:{} lost: {e}",
                    info.ip,
                    info.port
                );
            }
            let _ = stream.socket().shutdown(std::net::Shutdown::Both);
            replication::remove_replica(&srv, &info);
        });
    if let Err(e) = spawned {
        tracing::warn!("can't start a thread for a replica: {e}");
    }
}

fn feed(
    server: &Arc<Server>,
    stream: &FeedStream,
    info: &Arc<ReplicaInfo>,
    request: &ReplicaRequest,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let sock = stream.socket();
    sock.set_nonblocking(false).map_err(io)?;
    // Writes wake up often enough to notice a kill or a stuck replica.
    sock.set_write_timeout(Some(Duration::from_millis(100)))
        .map_err(io)?;
    let reader = stream.reader().map_err(io)?;
    let (srv, acker) = (server.clone(), info.clone());
    std::thread::Builder::new()
        .name("replica-acks".into())
        .spawn(move || read_acks(&srv, reader, &acker))
        .map_err(io)?;
    let mut out = stream.writer().map_err(io)?;
    match replication::try_partial(server, request, info) {
        Some(reply) => {
            tracing::info!(
                "Partial resynchronization request from {}:{} accepted",
                info.ip,
                info.port
            );
            out.write_all(&reply).map_err(io)?;
            flush(server, &mut out, info)?;
        }
        None => {
            if request.psync.as_ref().is_some_and(|(id, _)| id != "?") {
                server
                    .replication
                    .sync_partial_err
                    .fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!("Full resync requested by replica {}:{}", info.ip, info.port);
            full_sync(server, &mut out, info, request)?;
            // After an `$EOF:` transfer the stream waits for the replica's
            // first ACK: bytes right behind the end mark would hide it from
            // a replica that looks for the mark at the end of what it read
            // (Redis's replicas do).
            let timeout = server.config.get_i64("repl-timeout").max(1) as u64;
            let deadline = std::time::Instant::now() + Duration::from_secs(timeout);
            while info.ack_ms.load(Ordering::Acquire) == 0 {
                if info.shared.is_killed() || std::time::Instant::now() > deadline {
                    return Err("no acknowledgement after the snapshot".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    info.state
        .store(replication::REPLICA_ONLINE, Ordering::Release);
    let (hard, soft, soft_secs) = server.config.output_buffer_limits("slave");
    let mut over_soft_since = None;
    let mut buf = Vec::with_capacity(SEND_CHUNK);
    loop {
        if info.shared.is_killed() || server.shutdown.load(Ordering::Acquire) {
            return Ok(());
        }
        let pos = info.sent.load(Ordering::Acquire);
        buf.clear();
        let end = replication::stream_after(
            server,
            pos,
            SEND_CHUNK,
            &mut buf,
            Duration::from_millis(100),
        )
        .ok_or("the replica fell behind the backlog")?;
        // `client-output-buffer-limit replica`: what it has not been sent.
        let pending = end.saturating_sub(pos);
        if hard > 0 && pending > hard {
            return Err(format!(
                "output buffer limit reached ({pending} bytes pending)"
            ));
        }
        if soft > 0 && pending > soft {
            let since = *over_soft_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= Duration::from_secs(soft_secs) {
                return Err(format!("soft output buffer limit held for {soft_secs} s"));
            }
        } else {
            over_soft_since = None;
        }
        if !buf.is_empty() {
            send(server, &mut out, info, pos, &buf)?;
            if buf.len() < SEND_CHUNK {
                // Let a busy stream gather before the next write.
                std::thread::sleep(Duration::from_micros(COALESCE_US));
            }
        }
    }
}

/// Sends stream bytes (those after `pos`), moving the replica's position
/// as the socket takes them. A replica that takes nothing for
/// `repl-timeout` seconds is given up (its backlog share is dropped
/// sooner, past the output buffer's hard limit: see `Backlog::trim`).
fn send(
    server: &Server,
    out: &mut FeedWriter,
    info: &ReplicaInfo,
    pos: u64,
    bytes: &[u8],
) -> Result<(), String> {
    let mut done = 0;
    let mut stalled = Stall::new(server);
    while done < bytes.len() {
        match out.write(&bytes[done..]) {
            Ok(0) => return Err("the replica closed the connection".into()),
            Ok(n) => {
                done += n;
                stalled = Stall::new(server);
                info.sent.store(pos + done as u64, Ordering::Release);
                server.stats.net_output_bytes.add(n as u64);
            }
            Err(e) => stalled.check(server, info, e)?,
        }
    }
    flush(server, out, info)
}

/// Sends what a TLS writer still holds (nothing to do on a plain socket).
fn flush(server: &Server, out: &mut FeedWriter, info: &ReplicaInfo) -> Result<(), String> {
    let stalled = Stall::new(server);
    while let Err(e) = out.flush() {
        stalled.check(server, info, e)?;
    }
    Ok(())
}

/// A write that the socket does not take: retried (the socket's timeout
/// wakes it up to notice a kill) until `repl-timeout` passes without
/// progress.
struct Stall {
    since: std::time::Instant,
    timeout: Duration,
}

impl Stall {
    fn new(server: &Server) -> Stall {
        Stall {
            since: std::time::Instant::now(),
            timeout: Duration::from_secs(server.config.get_i64("repl-timeout").max(1) as u64),
        }
    }

    fn check(&self, server: &Server, info: &ReplicaInfo, e: std::io::Error) -> Result<(), String> {
        if !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::Interrupted
        ) {
            return Err(e.to_string());
        }
        if info.shared.is_killed() || server.shutdown.load(Ordering::Acquire) {
            return Err("disconnected".into());
        }
        if !replication::still_fed(server, info) {
            return Err("output buffer limit reached: cut off".into());
        }
        if self.since.elapsed() > self.timeout {
            return Err("timeout: the replica takes no data".into());
        }
        Ok(())
    }
}

/// +FULLRESYNC and the snapshot.
fn full_sync(
    server: &Arc<Server>,
    out: &mut FeedWriter,
    info: &Arc<ReplicaInfo>,
    request: &ReplicaRequest,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let diskless = request.capa_eof && server.config.get_bool("repl-diskless-sync");
    let transfer = if diskless {
        SnapshotTransfer::Diskless
    } else {
        SnapshotTransfer::Disk
    };
    let cancelled = || info.shared.is_killed() || server.shutdown.load(Ordering::Acquire);
    let sink = out.try_clone().map_err(io)?;
    let done = replication::full_sync(server, info, transfer, Box::new(sink), &cancelled)?;
    if let Some(mark) = &done.mark {
        out.write_all(mark.as_bytes()).map_err(io)?;
    }
    if let Some(path) = &done.file {
        out.write_all(&done.line).map_err(io)?;
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        out.write_all(format!("${len}\r\n").as_bytes())
            .map_err(io)?;
        let sent = std::io::copy(&mut (&mut file).take(len), out).map_err(io)?;
        if sent != len {
            return Err(format!("{} changed while it was sent", path.display()));
        }
    }
    flush(server, out, info)?;
    tracing::info!(
        "Synchronization with replica {}:{} succeeded",
        info.ip,
        info.port
    );
    Ok(())
}

/// Reads what the replica sends (REPLCONF ACK <offset> [FACK <offset on
/// disk>] every second); ends the feed when the connection ends.
fn read_acks(server: &Server, mut stream: Box<dyn Read + Send>, info: &ReplicaInfo) {
    let limits = resp::Limits {
        max_bulk_len: 1 << 20,
        authenticated: true,
    };
    let (mut ranges, mut inline) = (Vec::new(), Vec::new());
    let mut input: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        input.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        while pos < input.len() {
            match resp::parse_command(&input[pos..], &limits, &mut ranges, &mut inline) {
                Ok(resp::Parsed::Command { consumed }) => {
                    let at = pos;
                    pos += consumed;
                    let args: Vec<&[u8]> = if inline.is_empty() {
                        ranges
                            .iter()
                            .map(|r| &input[at + r.start..at + r.end])
                            .collect()
                    } else {
                        inline.iter().map(|a| a.as_slice()).collect()
                    };
                    let number = |a: &[u8]| std::str::from_utf8(a).ok()?.parse::<u64>().ok();
                    if args.len() >= 3
                        && args[0].eq_ignore_ascii_case(b"replconf")
                        && args[1].eq_ignore_ascii_case(b"ack")
                    {
                        let fsynced = match args.get(3..5) {
                            Some([name, value]) if name.eq_ignore_ascii_case(b"fack") => {
                                number(value)
                            }
                            _ => None,
                        };
                        if let Some(offset) = number(args[2]) {
                            replication::acknowledged(server, info, offset, fsynced);
                        }
                    }
                }
                Ok(resp::Parsed::Incomplete { .. }) => break,
                Err(_) => {
                    info.shared.kill();
                    return;
                }
            }
        }
        input.drain(..pos);
        if input.len() > 1 << 20 {
            break;
        }
    }
    info.shared.kill();
}
