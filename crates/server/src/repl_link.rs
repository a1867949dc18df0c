//! A replica's link to its primary, on a thread of its own (blocking I/O):
//! connect, handshake (PING, AUTH, REPLCONF listening-port and capa, then
//! PSYNC with the id and offset this node has), receive the snapshot of a
//! full resynchronization into a file and load it, then apply the stream:
//! each command runs as the primary's client, then joins this node's
//! backlog (so replicas of this replica get the same stream and offsets).
//! Every second the link acknowledges its offset (REPLCONF ACK); it answers
//! REPLCONF GETACK at once. On any failure it reconnects after a second, and
//! resumes with a partial resynchronization when the primary can.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::replication::{self, LinkState};
use engine::{Client, Server};

/// Starts the thread that follows whatever primary REPLICAOF names.
pub(crate) fn start(server: Arc<Server>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("replication".into())
        .spawn(move || run(&server))
}

fn run(server: &Arc<Server>) {
    // The primary's client outlives a reconnection (a partial resync goes
    // on in the database the stream last selected).
    let mut primary_client: Option<(u64, Client)> = None;
    while !server.shutdown.load(Ordering::Acquire) {
        let Some((host, port, generation)) = server.replication.primary() else {
            if let Some((_, old)) = primary_client.take() {
                replication::drop_primary_client(server, &old);
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let stale = primary_client
            .as_ref()
            .is_none_or(|(g, c)| *g != generation || c.shared.is_killed());
        if stale {
            let addr = format!("{host}:{port}");
            let mut fresh = replication::primary_client(server, addr);
            // A partial resync goes on in the database the stream had
            // selected (recorded in our RDB file after a restart).
            fresh.set_db(replication::stream_db(server));
            if let Some((g, old)) = primary_client.take() {
                replication::drop_primary_client(server, &old);
                // CLIENT KILL TYPE master: the stream goes on where it was.
                if g == generation {
                    fresh.set_db(old.db);
                    fresh.multi = old.multi;
                }
            }
            primary_client = Some((generation, fresh));
        }
        let Some((_, client)) = primary_client.as_mut() else {
            continue;
        };
        let result = follow(server, &host, port, generation, client);
        server.replication.with_following(|f| {
            if f.link != LinkState::Connect {
                f.link = LinkState::Connect;
                f.down_since_ms = engine::now_ms();
            }
        });
        if let Err(e) = result {
            tracing::warn!("Replication with {host}:{port}: {e}");
            // Retried once a second, as Redis's replication cron does.
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && current(server, generation) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Is `generation` still what REPLICAOF asked for?
fn current(server: &Server, generation: u64) -> bool {
    !server.shutdown.load(Ordering::Acquire)
        && server.replication.generation.load(Ordering::Acquire) == generation
}

/// The connection to the primary: plain, or TLS with `tls-replication`.
enum LinkStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for LinkStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            LinkStream::Plain(s) => s.read(buf),
            LinkStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for LinkStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LinkStream::Plain(s) => s.write(buf),
            LinkStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LinkStream::Plain(s) => s.flush(),
            LinkStream::Tls(s) => s.flush(),
        }
    }
}

/// The connection to the primary and what has been read from it.
struct Link {
    stream: LinkStream,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
}

impl Link {
    /// Reads more; false on a read timeout.
    fn fill(&mut self) -> Result<bool, String> {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= 64 << 10) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut chunk = [0u8; 16 << 10];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("the primary closed the connection".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(format!("reading from the primary: {e}")),
        }
    }

    /// One reply line (without its line end), waiting at most `timeout`.
    fn line(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                let line = &self.buf[self.start..self.start + i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = String::from_utf8_lossy(line).into_owned();
                self.start += i + 1;
                return Ok(text);
            }
            if Instant::now() >= deadline {
                return Err("timeout waiting for the primary".into());
            }
            if self.buf.len() - self.start > 1 << 20 {
                return Err("the primary sent an overlong line".into());
            }
            self.fill()?;
        }
    }

    fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        send_command(&mut self.stream, args)
    }

    /// Sends a command and returns its one-line reply.
    fn call(&mut self, args: &[&[u8]], timeout: Duration) -> Result<String, String> {
        self.send(args)?;
        self.line(timeout)
    }
}

fn follow(
    server: &Arc<Server>,
    host: &str,
    port: u16,
    generation: u64,
    client: &mut Client,
) -> Result<(), String> {
    let timeout = Duration::from_secs(server.config.get_i64("repl-timeout").max(1) as u64);
    server
        .replication
        .with_following(|f| f.link = LinkState::Connecting);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("can't resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {host}"))?;
    let stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("can't connect: {e}"))?;
    let _ = stream.set_nodelay(!server.config.get_bool("repl-disable-tcp-nodelay"));
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tracing::info!("Connecting to MASTER {host}:{port}");
    let stream = if server.config.get_bool("tls-replication") {
        let config = crate::tls::client_config(&server.config)?;
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("TLS: {host}: {e}"))?;
        let mut session =
            rustls::ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
        // The handshake gets the whole `repl-timeout` (reads otherwise wake
        // up every 100 ms).
        let mut sock = stream;
        let _ = sock.set_read_timeout(Some(timeout));
        while session.is_handshaking() {
            session
                .complete_io(&mut sock)
                .map_err(|e| format!("TLS handshake with the primary: {e}"))?;
        }
        let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
        LinkStream::Tls(Box::new(rustls::StreamOwned::new(session, sock)))
    } else {
        LinkStream::Plain(stream)
    };
    let mut link = Link {
        stream,
        buf: Vec::new(),
        start: 0,
    };
    handshake(server, &mut link, timeout)?;
    let (replid, offset) = replication::psync_request(server);
    let offset = offset.to_string();
    let handing_over = server.replication.handing_over();
    if handing_over {
        // FAILOVER: the target takes over as it answers.
        link.send(&[
            &b"PSYNC"[..],
            replid.as_bytes(),
            offset.as_bytes(),
            b"FAILOVER",
        ])?;
    } else {
        link.send(&[&b"PSYNC"[..], replid.as_bytes(), offset.as_bytes()])?;
    }
    // The primary may send newlines to keep the link alive before it
    // answers (while its snapshot waits for `repl-diskless-sync-delay`).
    let reply = loop {
        let line = link.line(timeout)?;
        if !line.is_empty() {
            break line;
        }
    };
    if handing_over {
        let accepted = reply.starts_with("+FULLRESYNC") || reply.starts_with("+CONTINUE");
        replication::failover_answered(server, accepted, &reply);
        if !accepted {
            return Err(format!("the failover target refused: {reply}"));
        }
    }
    let mut words = reply.split_whitespace();
    match words.next() {
        Some("+FULLRESYNC") => {
            let id = words.next().unwrap_or_default().to_string();
            let offset: u64 = words
                .next()
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| format!("bad reply to PSYNC: {reply}"))?;
            tracing::info!("Full resync from master: {id}:{offset}");
            server.replication.with_following(|f| {
                f.link = LinkState::Sync;
                f.sync_started_ms = engine::now_ms();
                f.sync_read = 0;
                f.sync_total = 0;
            });
            let path = receive_snapshot(server, &mut link, timeout, generation)?;
            let db = replication::load_full_sync(server, &path, &id, offset)?;
            client.set_db(db);
            client.multi = None;
            tracing::info!("MASTER <-> REPLICA sync: Finished with success");
        }
        Some("+CONTINUE") => {
            tracing::info!("Successful partial resynchronization with master.");
            replication::continued(server, words.next());
        }
        _ => return Err(format!("unexpected reply to PSYNC: {reply}")),
    }
    let now = engine::now_ms();
    server.replication.with_following(|f| {
        f.link = LinkState::Connected;
        f.last_io_ms = now;
    });
    stream_commands(server, &mut link, timeout, generation, client)
}

/// PING, AUTH, REPLCONF: errors other than the ones Redis tolerates end
/// the attempt.
fn handshake(server: &Server, link: &mut Link, timeout: Duration) -> Result<(), String> {
    let pong = link.call(&[&b"PING"[..]], timeout)?;
    // A primary that wants a password answers PING with NOAUTH.
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("error reply to PING from master: {pong}"));
    }
    let pass = server.config.get_bytes("masterauth");
    if !pass.is_empty() {
        let user = server.config.get_bytes("masteruser");
        let reply = if user.is_empty() {
            link.call(&[&b"AUTH"[..], &pass], timeout)?
        } else {
            link.call(&[&b"AUTH"[..], &user, &pass], timeout)?
        };
        if reply.starts_with('-') {
            return Err(format!("unable to AUTH to MASTER: {reply}"));
        }
    }
    let announced_port = match server.config.get_i64("replica-announce-port") {
        0 => server.tcp_port.load(Ordering::Relaxed) as i64,
        p => p,
    };
    let reply = link.call(
        &[
            &b"REPLCONF"[..],
            b"listening-port",
            announced_port.to_string().as_bytes(),
        ],
        timeout,
    )?;
    if reply.starts_with('-') {
        tracing::info!(
            "(Non critical) Master does not understand REPLCONF listening-port: {reply}"
        );
    }
    let ip = server.config.get("replica-announce-ip");
    if !ip.is_empty() {
        let reply = link.call(&[&b"REPLCONF"[..], b"ip-address", ip.as_bytes()], timeout)?;
        if reply.starts_with('-') {
            tracing::info!(
                "(Non critical) Master does not understand REPLCONF ip-address: {reply}"
            );
        }
    }
    let reply = link.call(
        &[&b"REPLCONF"[..], b"capa", b"eof", b"capa", b"psync2"],
        timeout,
    )?;
    if reply.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF capa: {reply}");
    }
    Ok(())
}

/// Receives the snapshot (`$<len>` or `$EOF:<mark>` framing) into a
/// temporary file in `dir`, then puts it in place as the RDB file.
fn receive_snapshot(
    server: &Server,
    link: &mut Link,
    timeout: Duration,
    generation: u64,
) -> Result<PathBuf, String> {
    // The primary may send newlines while it prepares the snapshot.
    let header = loop {
        let line = link.line(timeout)?;
        if !line.is_empty() {
            break line;
        }
    };
    if let Some(err) = header.strip_prefix('-') {
        return Err(format!("the primary aborted the synchronization: {err}"));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(format!("bad snapshot header from the primary: {header}"));
    };
    let (mark, mut left) = match spec.strip_prefix("EOF:") {
        Some(mark) if mark.len() == 40 => (Some(mark.as_bytes().to_vec()), u64::MAX),
        Some(_) => return Err(format!("bad snapshot end mark: {header}")),
        None => (
            None,
            spec.parse::<u64>()
                .map_err(|_| format!("bad snapshot length: {header}"))?,
        ),
    };
    if mark.is_none() {
        server.replication.with_following(|f| f.sync_total = left);
    }
    let final_path = engine::persistence::rdb_path(server);
    let temp = final_path.with_file_name(format!(
        "temp-{}.{}.rdb",
        engine::now_ms(),
        std::process::id()
    ));
    let io = |e: std::io::Error| format!("can't write {}: {e}", temp.display());
    let mut file =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&temp).map_err(io)?);
    let result = (|| {
        // With a mark, the last 40 bytes seen are held back until more come.
        let mut pending: Vec<u8> = Vec::new();
        let mut last_data = Instant::now();
        loop {
            let available = &link.buf[link.start..];
            if !available.is_empty() {
                last_data = Instant::now();
                let take = available.len().min(left.min(usize::MAX as u64) as usize);
                let (chunk, _) = available.split_at(take);
                server.replication.with_following(|f| {
                    f.sync_read += take as u64;
                    f.last_io_ms = engine::now_ms();
                });
                match &mark {
                    Some(mark) => {
                        pending.extend_from_slice(chunk);
                        // The stream may follow the mark in the same read.
                        if let Some(at) = pending.windows(mark.len()).position(|w| w == mark) {
                            file.write_all(&pending[..at]).map_err(io)?;
                            let after = pending.len() - (at + mark.len());
                            link.start += take - after;
                            break;
                        }
                        link.start += take;
                        let keep = mark.len().min(pending.len());
                        let flush = pending.len() - keep;
                        file.write_all(&pending[..flush]).map_err(io)?;
                        pending.drain(..flush);
                    }
                    None => {
                        file.write_all(chunk).map_err(io)?;
                        link.start += take;
                        left -= take as u64;
                        if left == 0 {
                            break;
                        }
                    }
                }
            }
            if !current(server, generation) {
                return Err("replication was reconfigured".to_string());
            }
            if last_data.elapsed() > timeout {
                return Err("timeout receiving the snapshot".to_string());
            }
            link.fill()?;
        }
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temp, &final_path).map_err(io)?;
        Ok(final_path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Applies the stream until the link fails or REPLICAOF changes.
fn stream_commands(
    server: &Arc<Server>,
    link: &mut Link,
    timeout: Duration,
    generation: u64,
    client: &mut Client,
) -> Result<(), String> {
    let limits = resp::Limits {
        max_bulk_len: server.config.hot.proto_max_bulk_len.load(Ordering::Relaxed),
        authenticated: true,
    };
    let (mut ranges, mut inline) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    let mut last_ack: Option<Instant> = None;
    let mut on_disk = OnDisk::default();
    let mut last_io = Instant::now();
    loop {
        if !current(server, generation) {
            return Ok(());
        }
        if client.shared.is_killed() {
            return Err("the link was killed (CLIENT KILL)".into());
        }
        // Every complete command, in order; their bytes join our backlog
        // together, after the batch (or before an ACK).
        let mut batch = replication::applying(server);
        let mut unfed = link.start;
        loop {
            let input = &link.buf[link.start..];
            if input.is_empty() {
                break;
            }
            let consumed = match resp::parse_command(input, &limits, &mut ranges, &mut inline) {
                Ok(resp::Parsed::Command { consumed }) => consumed,
                Ok(resp::Parsed::Incomplete { .. }) => break,
                Err(e) => {
                    return Err(format!(
                        "protocol error from the primary: {}",
                        String::from_utf8_lossy(&e.0)
                    ))
                }
            };
            let args: Vec<&[u8]> = if inline.is_empty() {
                ranges.iter().map(|r| &input[r.clone()]).collect()
            } else {
                inline.iter().map(|a| a.as_slice()).collect()
            };
            let getack = args.len() >= 2
                && args[0].eq_ignore_ascii_case(b"replconf")
                && args[1].eq_ignore_ascii_case(b"getack");
            if getack {
                // The offset before this command, as Redis answers.
                batch.applied(&link.buf[unfed..link.start]);
                unfed = link.start;
                send_ack(server, &mut link.stream, &mut on_disk)?;
                last_ack = Some(Instant::now());
            } else if !args.is_empty() {
                batch.execute(client, &args, &mut out);
            }
            link.start += consumed;
        }
        batch.applied(&link.buf[unfed..link.start]);
        drop(batch);
        // What was applied reaches our AOF (and the disk, with `always`).
        on_disk.applied(server);
        if last_ack.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            send_ack(server, &mut link.stream, &mut on_disk)?;
            last_ack = Some(Instant::now());
        }
        if link.fill()? {
            last_io = Instant::now();
            let now = engine::now_ms();
            server.replication.with_following(|f| f.last_io_ms = now);
        } else if last_io.elapsed() > timeout {
            return Err("timeout: no data from the primary".into());
        }
    }
}

/// Which stream offsets our AOF has on disk (for FACK): the AOF's end
/// after each batch of applied commands, with the stream offset it holds.
#[derive(Default)]
struct OnDisk {
    marks: std::collections::VecDeque<(u64, u64)>,
    fsynced: u64,
}

impl OnDisk {
    fn applied(&mut self, server: &Server) {
        if engine::aof::fsynced(server).is_none() {
            return;
        }
        engine::aof::before_reply(server);
        let mark = (engine::aof::logged(server), replication::offset(server));
        if self.marks.back() != Some(&mark) {
            // (Bounded: with `appendfsync no` nothing is ever synced.)
            if self.marks.len() >= 4096 {
                self.marks.pop_front();
            }
            self.marks.push_back(mark);
        }
    }

    /// The stream offset whose commands are on disk; None without an AOF.
    fn fsynced(&mut self, server: &Server) -> Option<u64> {
        let synced = engine::aof::fsynced(server)?;
        while let Some(&(aof_end, offset)) = self.marks.front() {
            if aof_end > synced {
                break;
            }
            self.fsynced = offset;
            self.marks.pop_front();
        }
        Some(self.fsynced)
    }
}

/// REPLCONF ACK <offset>, and FACK <offset on disk> when our AOF is on
/// (Redis 7.2; older primaries ignore it).
fn send_ack(server: &Server, stream: &mut impl Write, on_disk: &mut OnDisk) -> Result<(), String> {
    let offset = replication::offset(server).to_string();
    let fsynced = on_disk.fsynced(server).map(|f| f.to_string());
    let mut args: Vec<&[u8]> = vec![b"REPLCONF", b"ACK", offset.as_bytes()];
    if let Some(f) = &fsynced {
        args.extend([&b"FACK"[..], f.as_bytes()]);
    }
    send_command(stream, &args)
}

fn send_command(stream: &mut impl Write, args: &[&[u8]]) -> Result<(), String> {
    let mut cmd = Vec::new();
    resp::write_command(&mut cmd, args);
    stream
        .write_all(&cmd)
        .map_err(|e| format!("writing to the primary: {e}"))
}
