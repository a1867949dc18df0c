//! Replication (PSYNC2, as Redis 7): the node's role, its replication ids
//! and offsets, the backlog of the stream it sends, the replicas it feeds
//! and the primary it follows; and the commands REPLICAOF (SLAVEOF), ROLE,
//! REPLCONF, PSYNC, SYNC, WAIT, FAILOVER, READONLY and READWRITE.
//!
//! The sockets are the server crate's: a connection that asks for the
//! stream (PSYNC, SYNC) leaves its worker's event loop for a thread of its
//! own that sends the snapshot and then the stream (`repl_primary.rs`), and
//! a replica follows its primary on a link thread (`repl_link.rs`). This
//! module holds what they share with the commands.
//!
//! Offsets are Redis's: `master_repl_offset` counts the bytes of the stream
//! since the replication id began (a replica's follows its primary's); the
//! backlog keeps the last `repl-backlog-size` bytes, plus whatever a
//! connected replica has not been sent yet (Redis 7's shared replication
//! buffer), so a replica that reconnects resumes with PSYNC from the
//! offset it reached. A replica's backlog holds its primary's stream as
//! received, so replicas of replicas share the primary's ids and offsets.
//!
//! Lock order: shard locks, then `state`, then the propagation log.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::args::{eq, parse_i64};
use crate::client::{Blocked, ClientShared};
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::{now_ms, Client, Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("replicaof", replicaof),
    ("slaveof", replicaof),
    ("role", role),
    ("replconf", replconf),
    ("psync", psync),
    ("sync", psync),
    ("wait", wait),
    ("waitaof", waitaof),
    ("failover", failover),
    ("readonly", cluster_only),
    ("readwrite", cluster_only),
];

/// The replication stream's recent past, and the ids it is known by.
pub(crate) struct Backlog {
    /// Bytes at `buf[head..]`; the last one is at offset `end`.
    buf: Vec<u8>,
    head: usize,
    /// `master_repl_offset`: bytes in the stream since the id began.
    pub(crate) end: u64,
    /// `repl-backlog-size`.
    pub(crate) limit: usize,
    /// `client-output-buffer-limit replica`'s hard limit (0: none): a
    /// replica further behind loses its claim on the backlog (it is cut
    /// off), so a stuck replica cannot make it grow without bound.
    pub(crate) hard_limit: u64,
    /// How far each replica being fed has been sent: bytes after these
    /// positions are kept for them.
    readers: Vec<Arc<AtomicU64>>,
    pub(crate) replid: String,
    /// The previous id, valid up to `second_offset - 1` (PSYNC2: replicas
    /// of the former primary resume after a failover).
    pub(crate) replid2: String,
    pub(crate) second_offset: i64,
}

/// An id of 40 zeros: no previous id.
const NO_ID: &str = "0000000000000000000000000000000000000000";

/// A new random replication id (40 hex characters).
fn random_id() -> String {
    (0..40)
        .map(|_| char::from_digit(u32::from(rand::random::<u8>() % 16), 16).unwrap_or('0'))
        .collect()
}

impl Backlog {
    /// An empty backlog whose stream, known as `replid`, is at `end`.
    fn new(server: &Server, replid: String, end: u64) -> Backlog {
        let (limit, hard_limit) = Backlog::limits(server);
        Backlog {
            buf: Vec::new(),
            head: 0,
            end,
            limit,
            hard_limit,
            readers: Vec::new(),
            replid,
            replid2: NO_ID.to_string(),
            second_offset: -1,
        }
    }

    /// `repl-backlog-size`, and `client-output-buffer-limit`'s hard limit
    /// for replicas, as configured now.
    fn limits(server: &Server) -> (usize, u64) {
        (
            server.config.get_i64("repl-backlog-size").max(1) as usize,
            server.config.output_buffer_limits("slave").0,
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Offset of the first byte held (Redis's `repl_backlog_first_byte_offset`).
    pub(crate) fn first_offset(&self) -> u64 {
        self.end - self.len() as u64 + 1
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.end += bytes.len() as u64;
        self.trim();
    }

    /// Drops what is past `limit` and sent to every replica.
    fn trim(&mut self) {
        let excess = self.len().saturating_sub(self.limit);
        if excess == 0 {
            return;
        }
        let start = self.end - self.len() as u64;
        if self.hard_limit > 0 {
            let (end, hard) = (self.end, self.hard_limit);
            self.readers
                .retain(|r| end.saturating_sub(r.load(Ordering::Acquire)) <= hard);
        }
        let needed_from = self
            .readers
            .iter()
            .map(|r| r.load(Ordering::Acquire))
            .min()
            .unwrap_or(self.end);
        let drop = excess.min(needed_from.saturating_sub(start) as usize);
        self.head += drop;
        // Compacted once the dropped part outweighs what is kept.
        if self.head > self.len() && self.head >= 64 << 10 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    /// Appends to `out` at most `max` bytes that follow position `pos` (the
    /// offset of the last byte a replica has); None if they are gone.
    pub(crate) fn read_after(&self, pos: u64, max: usize, out: &mut Vec<u8>) -> Option<()> {
        let start = self.end - self.len() as u64;
        if pos < start || pos > self.end {
            return None;
        }
        let from = self.head + (pos - start) as usize;
        let to = self.buf.len().min(from + max);
        out.extend_from_slice(&self.buf[from..to]);
        Some(())
    }

    fn add_reader(&mut self, reader: &Arc<AtomicU64>) {
        self.readers.push(reader.clone());
    }

    fn remove_reader(&mut self, reader: &Arc<AtomicU64>) {
        self.readers.retain(|r| !Arc::ptr_eq(r, reader));
    }

    /// A new id from here on; the current one stays valid up to here.
    fn shift_id(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, random_id());
        self.second_offset = self.end as i64 + 1;
    }
}

/// A replica's sync state, as INFO shows it.
pub const REPLICA_WAIT_BGSAVE: u8 = 0;
pub const REPLICA_SEND_BULK: u8 = 1;
pub const REPLICA_ONLINE: u8 = 2;

/// A replica this node feeds.
pub struct ReplicaInfo {
    pub shared: Arc<ClientShared>,
    pub ip: String,
    /// The port it listens on (REPLCONF listening-port).
    pub port: u16,
    pub state: AtomicU8,
    /// Position in the stream sent to it.
    pub sent: Arc<AtomicU64>,
    /// The offset it acknowledged, and when (ms).
    pub ack: AtomicU64,
    /// The offset its AOF has on disk (REPLCONF ACK .. FACK), for WAITAOF.
    pub fack: AtomicU64,
    pub ack_ms: AtomicU64,
}

/// What REPLCONF told about a connection that may become a replica.
#[derive(Default, Clone, Debug)]
pub struct ReplicaRequest {
    pub listening_port: u16,
    pub ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// PSYNC's id and offset; None for SYNC.
    pub psync: Option<(String, i64)>,
}

/// The replica's link to its primary, as INFO and ROLE show it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkState {
    /// Not connected (yet, or any more).
    Connect,
    Connecting,
    /// Receiving the snapshot.
    Sync,
    Connected,
}

/// The primary this node follows, and the link's progress.
pub struct Following {
    pub host: String,
    pub port: u16,
    /// This node hands its role over to that primary (FAILOVER): the
    /// link's PSYNC asks it to take over.
    pub failover: bool,
    pub link: LinkState,
    /// Last byte from the primary (ms).
    pub last_io_ms: u64,
    pub down_since_ms: u64,
    /// Snapshot transfer: bytes expected (0: unknown, EOF-marked) and read.
    pub sync_total: u64,
    pub sync_read: u64,
    pub sync_started_ms: u64,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) following: Option<Following>,
    pub(crate) failover: Option<Failover>,
}

/// A coordinated failover this primary runs (FAILOVER).
pub(crate) struct Failover {
    /// Hand over to this replica (`None`: the first to catch up).
    target: Option<(String, u16)>,
    /// Give up (or, with `force`, hand over anyway) at this time (ms).
    deadline_ms: Option<u64>,
    force: bool,
    /// Writes are paused and we wait for the target's acknowledgement
    /// (`waiting-for-sync`), or we follow it and wait for its PSYNC reply
    /// (`failover-in-progress`).
    in_progress: bool,
}

/// The node's replication state.
#[derive(Default)]
pub struct Replication {
    pub(crate) state: Mutex<State>,
    /// Held while a command from the primary is applied and joins the
    /// backlog, and while a snapshot for a replica of ours begins: the
    /// snapshot holds exactly the commands before its offset. It guards
    /// the database the primary's stream has selected.
    pub(crate) applying: Mutex<usize>,
    /// Following a primary (the fast check for writes and expiry).
    replica: AtomicBool,
    /// ... and the link to it is up (the check for
    /// `replica-serve-stale-data no`).
    link_up: AtomicBool,
    /// Since when no replica has been connected (ms; 0: one is), for
    /// `repl-backlog-ttl`.
    no_replicas_since: AtomicU64,
    /// Bumped when REPLICAOF changes what to follow: the link starts over.
    pub generation: AtomicU64,
    pub replicas: Mutex<Vec<Arc<ReplicaInfo>>>,
    /// Full synchronizations waiting for their snapshot to start.
    pending_syncs: Mutex<Vec<Arc<SyncGroup>>>,
    /// WAIT clients, woken when an acknowledgement arrives.
    waiters: Mutex<Vec<Arc<keyspace::Waiter>>>,
    /// Writes are refused: fewer good replicas than `min-replicas-to-write`.
    too_few_replicas: AtomicBool,
    /// Replicas online and acknowledging within `min-replicas-max-lag`.
    good_replicas: AtomicU64,
    last_ping_ms: AtomicU64,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
}

impl Replication {
    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    /// The primary to follow, and the generation of that choice.
    pub fn primary(&self) -> Option<(String, u16, u64)> {
        let st = self.state.lock();
        st.following.as_ref().map(|f| {
            (
                f.host.clone(),
                f.port,
                self.generation.load(Ordering::Acquire),
            )
        })
    }

    /// Does this node hand its role over to the primary it now follows?
    pub fn handing_over(&self) -> bool {
        self.state
            .lock()
            .following
            .as_ref()
            .is_some_and(|f| f.failover)
    }

    /// Updates the link's state for INFO and ROLE (if still following).
    pub fn with_following(&self, f: impl FnOnce(&mut Following)) {
        let mut st = self.state.lock();
        if let Some(following) = st.following.as_mut() {
            f(following);
            self.link_up
                .store(following.link == LinkState::Connected, Ordering::Release);
        }
    }

    pub(crate) fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock());
        for w in waiters {
            w.wake();
        }
    }
}

/// The replication stream's id and offset, once there is a backlog.
pub(crate) fn position(server: &Server) -> Option<(String, u64)> {
    let log = server.propagation.log.lock();
    log.repl.as_ref().map(|b| (b.replid.clone(), b.end))
}

/// After loading a file that recorded the stream's position (`repl-id`,
/// `repl-offset`, `repl-stream-db`): this node resumes from there, as a
/// replica with PSYNC, or as a primary its replicas resume from.
pub fn restore_position(server: &Server, id: String, offset: u64, stream_db: usize) {
    let mut log = server.propagation.log.lock();
    log.repl = Some(Backlog::new(server, id, offset));
    log.repl_db = None;
    drop(log);
    *server.replication.applying.lock() = stream_db;
    if !server.replication.is_replica() {
        server.propagation.activate(&server.clients);
    }
}

/// The database the primary's stream has selected (after a restart, as
/// the file recorded it).
pub fn stream_db(server: &Server) -> usize {
    *server.replication.applying.lock()
}

/// The replication stream's offset (`master_repl_offset`).
pub fn offset(server: &Server) -> u64 {
    server
        .propagation
        .log
        .lock()
        .repl
        .as_ref()
        .map_or(0, |b| b.end)
}

fn cluster_only(_ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    Err(CmdError::new(
        "ERR This instance has cluster support disabled",
    ))
}

/// REPLICAOF host port | NO ONE.
fn replicaof(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if eq(a[1], "no") && eq(a[2], "one") {
        if server.replication.is_replica() {
            become_primary(server);
            tracing::info!(
                "MASTER MODE enabled (user request from '{}')",
                ctx.client.shared.addr
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    let port = parse_i64(a[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::new("ERR Invalid master port"))? as u16;
    let host = String::from_utf8_lossy(a[1]).into_owned();
    {
        let st = server.replication.state.lock();
        if let Some(f) = &st.following {
            if f.host.eq_ignore_ascii_case(&host) && f.port == port {
                ctx.out.simple("OK Already connected to specified master");
                return Ok(());
            }
        }
    }
    follow(server, host.clone(), port);
    tracing::info!(
        "REPLICAOF {host}:{port} enabled (user request from '{}')",
        ctx.client.shared.addr
    );
    ctx.out.ok();
    Ok(())
}

/// Starts following `host:port`: the data it has becomes ours. Replicas
/// of this node reconnect (their stream's id changes).
pub fn follow(server: &Server, host: String, port: u16) {
    let rep = &server.replication;
    {
        let mut st = rep.state.lock();
        st.following = Some(Following {
            host,
            port,
            failover: false,
            link: LinkState::Connect,
            last_io_ms: 0,
            down_since_ms: now_ms(),
            sync_total: 0,
            sync_read: 0,
            sync_started_ms: 0,
        });
        rep.replica.store(true, Ordering::Release);
        rep.link_up.store(false, Ordering::Release);
        keyspace::set_expiry_by_primary(true);
        let mut log = server.propagation.log.lock();
        log.upstream = true;
        // The stream we hand on is the primary's from now on.
        log.repl_db = None;
    }
    rep.generation.fetch_add(1, Ordering::AcqRel);
    disconnect_replicas(server);
}

/// Stops following: this node takes writes, under a new replication id
/// (the old one stays valid up to here, so the other replicas of the
/// former primary resume from this node with PSYNC).
fn become_primary(server: &Server) {
    let rep = &server.replication;
    {
        let mut st = rep.state.lock();
        st.following = None;
        rep.replica.store(false, Ordering::Release);
        rep.link_up.store(false, Ordering::Release);
        keyspace::set_expiry_by_primary(false);
        let mut log = server.propagation.log.lock();
        log.upstream = false;
        log.repl_db = None;
        if let Some(b) = log.repl.as_mut() {
            b.shift_id();
        }
    }
    rep.generation.fetch_add(1, Ordering::AcqRel);
    disconnect_replicas(server);
    // Our own writes feed the backlog from now on.
    if server.propagation.log.lock().repl.is_some() {
        server.propagation.activate(&server.clients);
    }
}

fn disconnect_replicas(server: &Server) {
    for r in server.replication.replicas.lock().iter() {
        r.shared.kill();
    }
}

/// ROLE.
fn role(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let offset = offset(server) as i64;
    let st = server.replication.state.lock();
    let out = &mut ctx.out;
    match &st.following {
        Some(f) => {
            out.array(5);
            out.bulk_str("slave");
            out.bulk_str(&f.host);
            out.int(i64::from(f.port));
            out.bulk_str(match f.link {
                LinkState::Connect => "connect",
                LinkState::Connecting => "connecting",
                LinkState::Sync => "sync",
                LinkState::Connected => "connected",
            });
            out.int(if f.link == LinkState::Connected {
                offset
            } else {
                -1
            });
        }
        None => {
            drop(st);
            let replicas = server.replication.replicas.lock();
            let online: Vec<_> = replicas
                .iter()
                .filter(|r| r.state.load(Ordering::Acquire) == REPLICA_ONLINE)
                .collect();
            out.array(3);
            out.bulk_str("master");
            out.int(offset);
            out.array(online.len());
            for r in online {
                out.array(3);
                out.bulk_str(&r.ip);
                out.bulk_str(&r.port.to_string());
                out.bulk_str(&r.ack.load(Ordering::Acquire).to_string());
            }
        }
    }
    Ok(())
}

/// REPLCONF option value [option value ...].
fn replconf(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(SYNTAX);
    }
    let mut req = ctx.client.replica_conf.take().unwrap_or_default();
    for pair in a[1..].chunks(2) {
        let (opt, value) = (pair[0], pair[1]);
        if eq(opt, "listening-port") {
            req.listening_port = parse_i64(value)
                .filter(|p| (0..=65535).contains(p))
                .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?
                as u16;
        } else if eq(opt, "ip-address") {
            req.ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if eq(opt, "capa") {
            if eq(value, "eof") {
                req.capa_eof = true;
            } else if eq(value, "psync2") {
                req.capa_psync2 = true;
            }
        } else if eq(opt, "ack") || eq(opt, "fack") {
            // Acknowledgements reach the replica's own thread; from anyone
            // else they are ignored, without a reply (as Redis).
            ctx.client.replica_conf = Some(req);
            return Ok(());
        } else if eq(opt, "getack") {
            // Only the primary asks; the link answers it (see `repl_link`).
            ctx.client.replica_conf = Some(req);
            return Ok(());
        } else if eq(opt, "rdb-only") || eq(opt, "rdb-filter-only") {
            // Accepted (redis-cli --rdb sends them); the whole snapshot is sent.
        } else {
            ctx.client.replica_conf = Some(req);
            return Err(CmdError::quoting(
                "ERR Unrecognized REPLCONF option: {}",
                &[opt],
            ));
        }
    }
    ctx.client.replica_conf = Some(req);
    ctx.out.ok();
    Ok(())
}

/// PSYNC replid offset / SYNC: the connection becomes a replica. The reply
/// (+FULLRESYNC or +CONTINUE, then the stream) comes from the thread it is
/// handed to.
fn psync(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    // PSYNC <my id> <offset> FAILOVER: our primary hands its role to us.
    if ctx.spec.name == "psync" && a.len() > 3 && eq(a[3], "failover") {
        let mine = server
            .propagation
            .log
            .lock()
            .repl
            .as_ref()
            .is_some_and(|b| b.replid.as_bytes() == a[1]);
        if !mine {
            return Err(CmdError::new(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        if server.replication.is_replica() {
            become_primary(server);
            tracing::info!(
                "MASTER MODE enabled (failover request from '{}')",
                ctx.client.shared.addr
            );
        }
    }
    if server.replication.is_replica() {
        let connected = server
            .replication
            .state
            .lock()
            .following
            .as_ref()
            .is_some_and(|f| f.link == LinkState::Connected);
        if !connected {
            return Err(CmdError::new(
                "NOMASTERLINK Can't SYNC while not connected with my master",
            ));
        }
    }
    let mut req = ctx.client.replica_conf.take().unwrap_or_default();
    if ctx.spec.name == "psync" {
        let offset = parse_i64(a[2])
            .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?;
        req.psync = Some((String::from_utf8_lossy(a[1]).into_owned(), offset));
    }
    ctx.client.replica_handover = Some(Box::new(req));
    Ok(())
}

/// Registers a replica about to be fed (CLIENT LIST, INFO, ROLE, WAIT).
pub fn add_replica(
    server: &Server,
    shared: Arc<ClientShared>,
    req: &ReplicaRequest,
) -> Arc<ReplicaInfo> {
    let ip = req.ip.clone().unwrap_or_else(|| {
        shared
            .addr
            .rsplit_once(':')
            .map_or(shared.addr.clone(), |(ip, _)| ip.to_string())
    });
    shared
        .link
        .store(crate::client::LINK_REPLICA, Ordering::Relaxed);
    let info = Arc::new(ReplicaInfo {
        shared,
        ip,
        port: req.listening_port,
        state: AtomicU8::new(REPLICA_WAIT_BGSAVE),
        sent: Arc::new(AtomicU64::new(0)),
        ack: AtomicU64::new(0),
        fack: AtomicU64::new(0),
        // 0 until the first acknowledgement.
        ack_ms: AtomicU64::new(0),
    });
    server.replication.replicas.lock().push(info.clone());
    info
}

/// Does the backlog still keep what `replica` has not been sent (it was
/// not cut off for lagging past the output buffer's hard limit)?
pub fn still_fed(server: &Server, replica: &ReplicaInfo) -> bool {
    let log = server.propagation.log.lock();
    log.repl
        .as_ref()
        .is_some_and(|b| b.readers.iter().any(|r| Arc::ptr_eq(r, &replica.sent)))
}

/// Forgets a replica whose connection ended.
pub fn remove_replica(server: &Server, replica: &Arc<ReplicaInfo>) {
    server
        .replication
        .replicas
        .lock()
        .retain(|r| !Arc::ptr_eq(r, replica));
    if let Some(b) = server.propagation.log.lock().repl.as_mut() {
        b.remove_reader(&replica.sent);
    }
    server.clients.unregister(replica.shared.id);
    server.replication.wake_waiters();
}

/// Records a replica's acknowledgement (REPLCONF ACK, with FACK: what its
/// AOF has on disk) and wakes WAIT and WAITAOF.
pub fn acknowledged(server: &Server, replica: &ReplicaInfo, offset: u64, fsynced: Option<u64>) {
    replica.ack.fetch_max(offset, Ordering::AcqRel);
    if let Some(f) = fsynced {
        replica.fack.fetch_max(f, Ordering::AcqRel);
    }
    replica.ack_ms.store(now_ms(), Ordering::Release);
    server.replication.wake_waiters();
}

/// Creates the backlog if there is none. Called with the log locked.
fn ensure_backlog<'a>(server: &Server, log: &'a mut crate::propagate::Log) -> &'a mut Backlog {
    // The id INFO showed before any replica came.
    log.repl
        .get_or_insert_with(|| Backlog::new(server, server.run_id.clone(), 0))
}

/// PSYNC's partial resynchronization: if the backlog still holds what the
/// replica lacks, returns the reply (+CONTINUE) and registers `replica` to
/// be fed from there.
pub fn try_partial(
    server: &Server,
    req: &ReplicaRequest,
    replica: &ReplicaInfo,
) -> Option<Vec<u8>> {
    let (id, wanted) = req.psync.as_ref()?;
    let mut log = server.propagation.log.lock();
    let b = log.repl.as_mut()?;
    let wanted = u64::try_from(*wanted).ok()?;
    let known = *id == b.replid
        || (*id == b.replid2 && b.second_offset >= 0 && wanted <= b.second_offset as u64);
    if !known || wanted < b.first_offset() || wanted > b.end + 1 {
        return None;
    }
    replica.sent.store(wanted - 1, Ordering::Release);
    b.add_reader(&replica.sent);
    replica.state.store(REPLICA_ONLINE, Ordering::Release);
    server
        .replication
        .sync_partial_ok
        .fetch_add(1, Ordering::Relaxed);
    Some(if req.capa_psync2 {
        format!("+CONTINUE {}\r\n", b.replid).into_bytes()
    } else {
        b"+CONTINUE\r\n".to_vec()
    })
}

/// How a full synchronization sends the snapshot.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SnapshotTransfer {
    /// Streamed straight to the sockets, between `$EOF:<mark>` and the mark.
    Diskless,
    /// Saved to the RDB file first, then sent as one bulk string.
    Disk,
}

/// What a replica sends once the snapshot it waited for is done.
#[derive(Clone)]
pub struct SyncDone {
    /// Diskless: the end mark to send after the snapshot.
    pub mark: Option<String>,
    /// Disk: the `+FULLRESYNC` line, and the file to send after it.
    pub line: Vec<u8>,
    pub file: Option<std::path::PathBuf>,
}

/// A replica waiting for a snapshot, and its socket (taken by the
/// snapshot's writer).
type SyncMember = (Arc<ReplicaInfo>, Option<Box<dyn Write + Send>>);

/// Replicas that share one full synchronization's snapshot: those that
/// ask within `repl-diskless-sync-delay` of the first (up to
/// `repl-diskless-sync-max-replicas`), as Redis shares one fork.
pub(crate) struct SyncGroup {
    transfer: SnapshotTransfer,
    mark: String,
    created: std::time::Instant,
    members: Mutex<Vec<SyncMember>>,
    outcome: Mutex<Option<Result<SyncDone, String>>>,
    done: parking_lot::Condvar,
}

/// A full synchronization for `replica`, whose socket is `out`: joins the
/// group of replicas waiting for a snapshot of this kind, or starts one
/// and, after the delay, takes the snapshot for all of them. From the
/// snapshot's moment on (`+FULLRESYNC <id> <offset>`), each is fed the
/// stream. `cancelled` is polled while waiting.
pub fn full_sync(
    server: &Arc<Server>,
    replica: &Arc<ReplicaInfo>,
    transfer: SnapshotTransfer,
    out: Box<dyn Write + Send>,
    cancelled: &dyn Fn() -> bool,
) -> Result<SyncDone, String> {
    let rep = &server.replication;
    rep.sync_full.fetch_add(1, Ordering::Relaxed);
    let (group, leader) = {
        let mut pending = rep.pending_syncs.lock();
        match pending.iter().find(|g| g.transfer == transfer) {
            Some(g) => {
                g.members.lock().push((replica.clone(), Some(out)));
                (g.clone(), false)
            }
            None => {
                let g = Arc::new(SyncGroup {
                    transfer,
                    mark: random_id(),
                    created: std::time::Instant::now(),
                    members: Mutex::new(vec![(replica.clone(), Some(out))]),
                    outcome: Mutex::new(None),
                    done: parking_lot::Condvar::new(),
                });
                pending.push(g.clone());
                (g, true)
            }
        }
    };
    if leader {
        lead_sync(server, &group, cancelled);
    }
    let mut outcome = group.outcome.lock();
    loop {
        if let Some(result) = outcome.as_ref() {
            return result.clone();
        }
        group
            .done
            .wait_for(&mut outcome, std::time::Duration::from_millis(100));
    }
}

/// The group's snapshot: after the diskless delay, for every member.
fn lead_sync(server: &Arc<Server>, group: &Arc<SyncGroup>, cancelled: &dyn Fn() -> bool) {
    let rep = &server.replication;
    if group.transfer == SnapshotTransfer::Diskless {
        let delay = server.config.get_i64("repl-diskless-sync-delay").max(0) as u64;
        let max = server
            .config
            .get_i64("repl-diskless-sync-max-replicas")
            .max(0) as usize;
        while group.created.elapsed() < std::time::Duration::from_secs(delay)
            && !(max > 0 && group.members.lock().len() >= max)
            && !server.shutdown.load(Ordering::Acquire)
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    // Late comers start a group of their own.
    rep.pending_syncs.lock().retain(|g| !Arc::ptr_eq(g, group));
    let result = snapshot_for(server, group, cancelled);
    *group.outcome.lock() = Some(result);
    group.done.notify_all();
}

fn snapshot_for(
    server: &Arc<Server>,
    group: &SyncGroup,
    cancelled: &dyn Fn() -> bool,
) -> Result<SyncDone, String> {
    while !crate::persistence::claim(&server.persistence) {
        if cancelled() && group.members.lock().len() == 1 {
            return Err("the replica went away".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Every change from the snapshot's moment on must reach the stream.
    server.propagation.activate(&server.clients);
    let (replicas, outs): (Vec<Arc<ReplicaInfo>>, Vec<_>) = group
        .members
        .lock()
        .iter_mut()
        .map(|(r, out)| (r.clone(), out.take()))
        .unzip();
    // (Lock order: `applying`, then the shard locks the snapshot takes.)
    let applying = server.replication.applying.lock();
    let stream_db = *applying;
    // At the snapshot's moment, under every shard lock: the replicas are
    // fed from here; returns the +FULLRESYNC line.
    let at_point = || {
        let mut log = server.propagation.log.lock();
        let b = ensure_backlog(server, &mut log);
        for r in &replicas {
            r.sent.store(b.end, Ordering::Release);
            b.add_reader(&r.sent);
            r.state.store(REPLICA_SEND_BULK, Ordering::Release);
        }
        let line = format!("+FULLRESYNC {} {}\r\n", b.replid, b.end).into_bytes();
        log.repl_db = None;
        line
    };
    let result = match group.transfer {
        SnapshotTransfer::Diskless => {
            // The writer thread must not send snapshot bytes before the
            // +FULLRESYNC line, made at the snapshot's moment.
            let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
            let sink = AfterPreamble {
                out: Box::new(Tee(outs.into_iter().flatten().map(Some).collect())),
                preamble: Some(rx),
            };
            let mark = &group.mark;
            let begun = crate::persistence::begin_snapshot_stream(
                server,
                Box::new(sink),
                stream_db,
                || {
                    let mut preamble = at_point();
                    preamble.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
                    let _ = tx.send(preamble);
                },
            );
            drop(applying);
            begun
                .and_then(|save| save.finish(&server.keyspace, 1))
                .map(|_| SyncDone {
                    mark: Some(group.mark.clone()),
                    line: Vec::new(),
                    file: None,
                })
                .map_err(|e| format!("can't stream the snapshot: {e}"))
        }
        SnapshotTransfer::Disk => {
            drop(outs);
            let path = crate::persistence::rdb_path(server);
            let mut line = Vec::new();
            let begun = crate::persistence::begin_snapshot_file(
                server,
                &path,
                crate::persistence::SnapshotFile::ForReplica { stream_db },
                || line = at_point(),
            );
            drop(applying);
            begun
                .and_then(|save| save.finish(&server.keyspace, 1))
                .map(|_| SyncDone {
                    mark: None,
                    line,
                    file: Some(path),
                })
                .map_err(|e| format!("can't save the snapshot: {e}"))
        }
    };
    server
        .persistence
        .in_progress
        .store(false, Ordering::Release);
    result
}

/// Writes to every replica of a shared snapshot; one whose socket fails is
/// left out (its feed ends on its own), the others go on.
struct Tee(Vec<Option<Box<dyn Write + Send>>>);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for out in &mut self.0 {
            if out.as_mut().is_some_and(|o| o.write_all(buf).is_err()) {
                *out = None;
            }
        }
        if self.0.iter().all(Option::is_none) {
            return Err(std::io::Error::other("every replica went away"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for out in self.0.iter_mut().flatten() {
            let _ = out.flush();
        }
        Ok(())
    }
}

/// A writer that first writes the preamble it is sent (waiting for it).
struct AfterPreamble {
    out: Box<dyn Write + Send>,
    preamble: Option<std::sync::mpsc::Receiver<Vec<u8>>>,
}

impl AfterPreamble {
    fn start(&mut self) -> std::io::Result<()> {
        if let Some(rx) = self.preamble.take() {
            let line = rx
                .recv()
                .map_err(|_| std::io::Error::other("the snapshot did not begin"))?;
            self.out.write_all(&line)?;
        }
        Ok(())
    }
}

impl Write for AfterPreamble {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.start()?;
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.start()?;
        self.out.flush()
    }
}

/// Waits (at most `timeout`) until the stream has bytes after `pos`, then
/// appends up to `max` of them to `out`, and returns the stream's end.
/// None: the replica fell out of the backlog (it must resynchronize).
pub fn stream_after(
    server: &Server,
    pos: u64,
    max: usize,
    out: &mut Vec<u8>,
    timeout: std::time::Duration,
) -> Option<u64> {
    let propagation = &server.propagation;
    let mut log = propagation.log.lock();
    let has_more = |log: &crate::propagate::Log| log.repl.as_ref().is_some_and(|b| b.end > pos);
    if !has_more(&log) {
        propagation.fed.wait_for(&mut log, timeout);
    }
    match log.repl.as_ref() {
        Some(b) if b.end > pos => b.read_after(pos, max, out).map(|()| b.end),
        Some(b) if pos > b.end => None,
        Some(b) => Some(b.end),
        None => Some(pos),
    }
}

// ---------------------------------------------------------------------------
// The replica's side: what its link to the primary changes.
// ---------------------------------------------------------------------------

/// The PSYNC this replica sends: the id and next offset of what it has
/// (its own, if it was a primary), or `? -1` for everything.
pub fn psync_request(server: &Server) -> (String, i64) {
    match server.propagation.log.lock().repl.as_ref() {
        Some(b) => (b.replid.clone(), b.end as i64 + 1),
        None => ("?".to_string(), -1),
    }
}

/// After +FULLRESYNC's snapshot arrived in `path`: the dataset becomes the
/// file's, the stream continues from `offset` under `replid`.
/// Returns the database the stream selects at that offset.
pub fn load_full_sync(
    server: &Arc<Server>,
    path: &std::path::Path,
    replid: &str,
    offset: u64,
) -> Result<usize, String> {
    // Clients see no half-loaded dataset: they get -LOADING meanwhile.
    let loading = &server.persistence.loading;
    loading.store(true, Ordering::Release);
    drop(server.keyspace.flush(None));
    crate::functions::flush_all(server);
    let stream_db = &server.persistence.loaded_stream_db;
    stream_db.store(-1, Ordering::Relaxed);
    // Keys that expired still load: the primary's DEL for them follows.
    let loaded = crate::persistence::load_rdb(server, path, crate::persistence::LoadMode::AofBase);
    loading.store(false, Ordering::Release);
    loaded?;
    let db = stream_db.load(Ordering::Relaxed).max(0) as usize;
    let mut log = server.propagation.log.lock();
    let readers = log.repl.take().map(|b| b.readers).unwrap_or_default();
    let mut b = Backlog::new(server, replid.to_string(), offset);
    b.readers = readers;
    log.repl = Some(b);
    log.repl_db = None;
    drop(log);
    // Our replicas hold data the snapshot replaced.
    disconnect_replicas(server);
    *server.replication.applying.lock() = db;
    Ok(db)
}

/// After +CONTINUE [id]: a primary that changed id (a failover) keeps the
/// old one valid up to here; our replicas learn it by reconnecting.
pub fn continued(server: &Server, new_id: Option<&str>) {
    let mut log = server.propagation.log.lock();
    let b = ensure_backlog(server, &mut log);
    if let Some(id) = new_id.filter(|id| *id != b.replid) {
        b.replid2 = std::mem::replace(&mut b.replid, id.to_string());
        b.second_offset = b.end as i64 + 1;
        drop(log);
        disconnect_replicas(server);
    }
}

/// Commands of the primary's stream being applied: no snapshot for a
/// replica of ours begins until their bytes have joined our backlog.
pub struct Applying<'a> {
    server: &'a Arc<Server>,
    stream_db: parking_lot::MutexGuard<'a, usize>,
}

/// Starts applying a batch of the primary's commands.
pub fn applying(server: &Arc<Server>) -> Applying<'_> {
    Applying {
        server,
        stream_db: server.replication.applying.lock(),
    }
}

impl Applying<'_> {
    /// Runs a command of the stream as `client` (see [`primary_client`]).
    pub fn execute(&mut self, client: &mut Client, args: &[&[u8]], out: &mut Vec<u8>) {
        out.clear();
        crate::dispatch::execute(self.server, client, args, out);
        *self.stream_db = client.db;
    }

    /// The bytes of the commands run so far join our backlog (for our
    /// replicas) and advance our offset.
    pub fn applied(&mut self, raw: &[u8]) {
        if !raw.is_empty() {
            feed_stream(self.server, raw);
        }
    }
}

/// Appends `bytes` to the stream (if there is a backlog) and wakes the
/// replicas' feeds.
fn feed_stream(server: &Server, bytes: &[u8]) {
    let propagation = &server.propagation;
    let mut log = propagation.log.lock();
    if let Some(b) = log.repl.as_mut() {
        b.feed(bytes);
    }
    drop(log);
    propagation.fed.notify_all();
}

/// Appends a command of the primary's own (PING, REPLCONF GETACK) to the
/// stream; it belongs to no database.
fn feed_command(server: &Server, args: &[&[u8]]) {
    let mut cmd = Vec::new();
    resp::write_command(&mut cmd, args);
    feed_stream(server, &cmd);
}

/// The client the primary's commands run as (`addr`: the primary's): never
/// refused, never blocked, and no key counts as expired for it (the
/// primary decides). Listed by CLIENT LIST until [`drop_primary_client`].
pub fn primary_client(server: &Server, addr: String) -> Client {
    let shared = Arc::new(ClientShared::new(
        server.clients.next_id(),
        addr,
        String::new(),
        -1,
        now_ms(),
    ));
    shared
        .link
        .store(crate::client::LINK_PRIMARY, Ordering::Relaxed);
    server.clients.register(shared.clone());
    let mut client = Client::new(shared, true);
    client.from_primary = true;
    client.loading = true;
    client
}

pub fn drop_primary_client(server: &Server, client: &Client) {
    server.clients.unregister(client.id());
}

// ---------------------------------------------------------------------------
// FAILOVER
// ---------------------------------------------------------------------------

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: pause writes,
/// wait until a replica has everything, then follow it and ask it (PSYNC
/// ... FAILOVER) to take over; writes resume once it accepted.
fn failover(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if a.len() == 2 && eq(a[1], "abort") {
        if server.replication.state.lock().failover.is_none() {
            return Err(CmdError::new("ERR No failover in progress."));
        }
        abort_failover(server, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let (mut timeout, mut force, mut target) = (0i64, false, None);
    let mut i = 1;
    while i < a.len() {
        if eq(a[i], "timeout") && i + 1 < a.len() && timeout == 0 {
            timeout = parse_i64(a[i + 1])
                .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?;
            if timeout <= 0 {
                return Err(CmdError::new("ERR FAILOVER timeout must be greater than 0"));
            }
            i += 2;
        } else if eq(a[i], "to") && i + 2 < a.len() && target.is_none() {
            let port = parse_i64(a[i + 2])
                .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?;
            target = Some((String::from_utf8_lossy(a[i + 1]).into_owned(), port));
            i += 3;
        } else if eq(a[i], "force") && !force {
            force = true;
            i += 1;
        } else {
            return Err(SYNTAX);
        }
    }
    let rep = &server.replication;
    let mut st = rep.state.lock();
    if st.failover.is_some() {
        return Err(CmdError::new("ERR FAILOVER already in progress."));
    }
    if st.following.is_some() {
        return Err(CmdError::new(
            "ERR FAILOVER is not valid when server is a replica.",
        ));
    }
    let replicas = rep.replicas.lock();
    if replicas.is_empty() {
        return Err(CmdError::new("ERR FAILOVER requires connected replicas."));
    }
    if force && (timeout == 0 || target.is_none()) {
        return Err(CmdError::new(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let target = match target {
        Some((host, port)) => {
            let replica = replicas
                .iter()
                .find(|r| r.ip.eq_ignore_ascii_case(&host) && i64::from(r.port) == port)
                .ok_or_else(|| {
                    CmdError::new("ERR FAILOVER target HOST and PORT is not a replica.")
                })?;
            if replica.state.load(Ordering::Acquire) != REPLICA_ONLINE {
                return Err(CmdError::new("ERR FAILOVER target replica is not online."));
            }
            tracing::info!("FAILOVER requested to {host}:{port}.");
            Some((host, replica.port))
        }
        None => {
            tracing::info!("FAILOVER requested to any replica.");
            None
        }
    };
    drop(replicas);
    st.failover = Some(Failover {
        target,
        deadline_ms: (timeout > 0).then(|| ctx.now_ms + timeout as u64),
        force,
        in_progress: false,
    });
    drop(st);
    server.pause.pause(ctx.now_ms, u64::MAX, true);
    ctx.out.ok();
    Ok(())
}

/// Ends the failover: writes resume.
fn clear_failover(server: &Server) {
    if server.replication.state.lock().failover.take().is_some() {
        server.pause.unpause(&server.clients);
    }
}

/// Gives up a failover; a node that already follows the target takes
/// writes again.
fn abort_failover(server: &Server, why: &str) {
    let in_progress = match server.replication.state.lock().failover.as_ref() {
        None => return,
        Some(f) => {
            match &f.target {
                Some((host, port)) => {
                    tracing::info!("FAILOVER to {host}:{port} aborted: {why}")
                }
                None => tracing::info!("FAILOVER to any replica aborted: {why}"),
            }
            f.in_progress
        }
    };
    if in_progress {
        become_primary(server);
    }
    clear_failover(server);
}

/// The link's PSYNC to the failover target got its answer: the target is
/// the primary now (`accepted`), or the failover is off.
pub fn failover_answered(server: &Server, accepted: bool, reply: &str) {
    if accepted {
        clear_failover(server);
    } else {
        abort_failover(server, &format!("the target refused: {reply}"));
    }
}

/// The failover's progress (from the cron): hand over once the target has
/// acknowledged everything, or at the timeout.
fn update_failover(server: &Server, now: u64) {
    let rep = &server.replication;
    let mut st = rep.state.lock();
    let Some(f) = st.failover.as_mut() else {
        return;
    };
    if f.in_progress {
        return;
    }
    let end = offset(server);
    let synced = |r: &ReplicaInfo| {
        r.state.load(Ordering::Acquire) == REPLICA_ONLINE && r.ack.load(Ordering::Acquire) == end
    };
    let chosen = {
        let replicas = rep.replicas.lock();
        match &f.target {
            Some((host, port)) => replicas
                .iter()
                .find(|r| r.ip.eq_ignore_ascii_case(host) && r.port == *port && synced(r))
                .map(|r| (r.ip.clone(), r.port)),
            None => replicas
                .iter()
                .find(|r| synced(r))
                .map(|r| (r.ip.clone(), r.port)),
        }
    };
    let timed_out = f.deadline_ms.is_some_and(|d| now >= d);
    let to = match (chosen, timed_out) {
        (Some(to), _) => {
            tracing::info!("Failover target {}:{} is synced, failing over.", to.0, to.1);
            to
        }
        (None, true) if f.force => {
            let Some(to) = f.target.clone() else { return };
            tracing::info!(
                "FAILOVER to {}:{} time out exceeded, failing over.",
                to.0,
                to.1
            );
            to
        }
        (None, true) => {
            drop(st);
            abort_failover(server, "Replica never caught up before timeout");
            return;
        }
        // (No GETACK: while writes are paused the stream must not grow,
        // the replicas' acknowledgements come every second.)
        (None, false) => return,
    };
    f.target = Some(to.clone());
    f.in_progress = true;
    drop(st);
    follow(server, to.0, to.1);
    rep.with_following(|f| f.failover = true);
}

/// The failover state INFO shows.
fn failover_state(st: &State) -> &'static str {
    match &st.failover {
        None => "no-failover",
        Some(f) if f.in_progress => "failover-in-progress",
        Some(_) => "waiting-for-sync",
    }
}

// ---------------------------------------------------------------------------
// WAIT, min-replicas-to-write, the primary's pings.
// ---------------------------------------------------------------------------

/// Replicas that acknowledged `offset` (`on_disk`: in their AOF).
fn acked(server: &Server, offset: u64, on_disk: bool) -> usize {
    server
        .replication
        .replicas
        .lock()
        .iter()
        .filter(|r| {
            let acked = if on_disk { &r.fack } else { &r.ack };
            r.state.load(Ordering::Acquire) == REPLICA_ONLINE
                && acked.load(Ordering::Acquire) >= offset
        })
        .count()
}

/// WAIT numreplicas timeout.
fn wait(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if server.replication.is_replica() {
        return Err(CmdError::new("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let needed = parse_i64(a[1])
        .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?;
    let timeout = parse_i64(a[2])
        .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let count = acked(server, ctx.client.repl_offset, false);
    let timed_out = std::mem::take(&mut ctx.client.block_timed_out);
    if count as i64 >= needed || timed_out || ctx.client.in_exec || ctx.client.in_script {
        ctx.out.int(count as i64);
        return Ok(());
    }
    block_for_acks(ctx, timeout as u64);
    Ok(())
}

/// WAITAOF numlocal numreplicas timeout (Redis 7.2): until this client's
/// writes are on disk in the local AOF and/or the AOFs of replicas.
fn waitaof(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let int = |v: &[u8]| {
        parse_i64(v).ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))
    };
    let (local, replicas) = (int(a[1])?, int(a[2])?);
    let timeout = parse_i64(a[3])
        .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if server.replication.is_replica() {
        return Err(CmdError::new("ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated."));
    }
    let fsynced = crate::aof::fsynced(server);
    if local > 0 && fsynced.is_none() {
        return Err(CmdError::new(
            "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.",
        ));
    }
    let local_done = i64::from(fsynced.is_some_and(|f| f >= ctx.client.aof_offset));
    let replicas_done = acked(server, ctx.client.repl_offset, true) as i64;
    let timed_out = std::mem::take(&mut ctx.client.block_timed_out);
    if (local_done >= local && replicas_done >= replicas)
        || timed_out
        || ctx.client.in_exec
        || ctx.client.in_script
    {
        ctx.out.array(2);
        ctx.out.int(local_done);
        ctx.out.int(replicas_done);
        return Ok(());
    }
    block_for_acks(ctx, timeout as u64);
    Ok(())
}

/// WAIT and WAITAOF block until an acknowledgement (or an fsync) wakes
/// them; they run again then, and at the timeout give their count.
fn block_for_acks(ctx: &mut Ctx, timeout_ms: u64) {
    let server = ctx.server;
    let woken = Arc::new(AtomicBool::new(false));
    let flag = woken.clone();
    let shared = ctx.client.shared.clone();
    let waiter = keyspace::Waiter::new(
        ctx.client.id(),
        Box::new(move || {
            flag.store(true, Ordering::Release);
            shared.wake();
        }),
    );
    server.replication.waiters.lock().push(waiter.clone());
    if !ctx.client.block_retry {
        request_acks(server);
    }
    ctx.client.blocked = Some(Blocked {
        db: ctx.client.db,
        keys: Vec::new(),
        deadline_ms: (timeout_ms > 0).then(|| ctx.now_ms + timeout_ms),
        timeout_null_array: false,
        rerun_on_timeout: true,
        waiter,
        woken,
        rerun_args: None,
    });
}

/// Asks every replica for its offset (REPLCONF GETACK * in the stream),
/// unless clients are paused (the stream must not grow then; replicas
/// acknowledge every second anyway).
fn request_acks(server: &Server) {
    if !server.pause.is_paused(now_ms()) {
        feed_command(server, &[b"REPLCONF", b"GETACK", b"*"]);
    }
}

/// Why the node refuses a command now, for replication's sake: a replica
/// loading its primary's snapshot, cut off from it (with
/// `replica-serve-stale-data no`), or taking writes from it only
/// (`replica-read-only`); a primary short of good replicas
/// (`min-replicas-to-write`). The primary's own commands always run.
pub(crate) fn refusal(
    server: &Server,
    spec: &commands::CommandSpec,
    args: &[&[u8]],
    client: &Client,
) -> Option<&'static [u8]> {
    use commands::flag;
    if client.from_primary {
        return None;
    }
    if server.persistence.loading.load(Ordering::Relaxed) && !spec.has_flag(flag::LOADING) {
        return Some(b"LOADING Redis is loading the dataset in memory");
    }
    let rep = &server.replication;
    // Looked at only when it matters: for EVALSHA it reads the script cache.
    let write =
        || spec.has_flag(flag::WRITE) || crate::scripting::declares_writes(server, spec.name, args);
    if rep.is_replica() {
        if !spec.has_flag(flag::STALE)
            && !rep.link_up.load(Ordering::Acquire)
            && !server.config.get_bool("replica-serve-stale-data")
        {
            return Some(
                b"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            );
        }
        if write() && server.config.get_bool("replica-read-only") {
            return Some(b"READONLY You can't write against a read only replica.");
        }
    } else if too_few_replicas(server) && write() {
        return Some(NOREPLICAS_ERROR);
    }
    None
}

pub(crate) const NOREPLICAS_ERROR: &[u8] = b"NOREPLICAS Not enough good replicas to write.";

/// Whether this primary has fewer good replicas than `min-replicas-to-write`
/// (a script in compatibility mode checks it at each write).
pub(crate) fn too_few_replicas(server: &Server) -> bool {
    server.replication.too_few_replicas.load(Ordering::Relaxed)
}

/// Periodic work: the primary pings its replicas every
/// `repl-ping-replica-period` (so they see it alive and offsets move) and
/// counts the good ones for `min-replicas-to-write`.
pub(crate) fn cron(server: &Server, now: u64) {
    let rep = &server.replication;
    update_failover(server, now);
    let any = count_good_replicas(server, now);
    // CONFIG SET repl-backlog-size and client-output-buffer-limit apply
    // from here.
    let (limit, hard_limit) = Backlog::limits(server);
    if let Some(b) = server.propagation.log.lock().repl.as_mut() {
        (b.limit, b.hard_limit) = (limit, hard_limit);
        b.trim();
    }
    free_unused_backlog(server, any, now);
    let period = server.config.get_i64("repl-ping-replica-period").max(1) as u64 * 1000;
    if any
        && !rep.is_replica()
        && !server.pause.is_paused(now)
        && now.saturating_sub(rep.last_ping_ms.load(Ordering::Relaxed)) >= period
    {
        rep.last_ping_ms.store(now, Ordering::Relaxed);
        feed_command(server, &[b"PING"]);
    }
}

/// Counts the replicas that acknowledged within `min-replicas-max-lag`
/// and decides whether writes are refused (`min-replicas-to-write`); the
/// cron does it, and CONFIG SET of either parameter at once, as Redis's
/// `refreshGoodSlavesCount`. Returns whether any replica is attached.
pub(crate) fn count_good_replicas(server: &Server, now: u64) -> bool {
    let rep = &server.replication;
    let min = server.config.get_i64("min-replicas-to-write");
    let max_lag = server.config.get_i64("min-replicas-max-lag").max(0) as u64;
    let replicas = rep.replicas.lock();
    let good = replicas
        .iter()
        .filter(|r| {
            r.state.load(Ordering::Acquire) == REPLICA_ONLINE
                && now.saturating_sub(r.ack_ms.load(Ordering::Acquire)) <= max_lag * 1000
        })
        .count();
    let any = !replicas.is_empty();
    drop(replicas);
    rep.too_few_replicas.store(
        !rep.is_replica() && min > 0 && max_lag > 0 && (good as i64) < min,
        Ordering::Relaxed,
    );
    rep.good_replicas.store(good as u64, Ordering::Relaxed);
    any
}

/// `repl-backlog-ttl`: a primary without replicas for that long frees its
/// backlog (and stops propagating, unless the AOF needs it). Replicas
/// that come back then need a full synchronization.
fn free_unused_backlog(server: &Server, any_replica: bool, now: u64) {
    let rep = &server.replication;
    if any_replica || rep.is_replica() {
        rep.no_replicas_since.store(0, Ordering::Relaxed);
        return;
    }
    let since = rep.no_replicas_since.load(Ordering::Relaxed);
    if since == 0 {
        rep.no_replicas_since.store(now, Ordering::Relaxed);
        return;
    }
    let ttl = server.config.get_i64("repl-backlog-ttl").max(0) as u64;
    if ttl == 0 || now.saturating_sub(since) < ttl * 1000 {
        return;
    }
    let mut log = server.propagation.log.lock();
    if log.repl.take().is_some() {
        drop(log);
        tracing::info!("Replication backlog freed after {ttl} seconds without connected replicas.");
        if !server.aof.enabled.load(Ordering::Acquire) {
            server.propagation.deactivate();
        }
    }
}

/// INFO's replication section.
pub(crate) fn info(server: &Server, o: &mut String) {
    use std::fmt::Write as _;
    let now = now_ms();
    let (replid, replid2, second, end, backlog) = {
        let log = server.propagation.log.lock();
        match log.repl.as_ref() {
            Some(b) => (
                b.replid.clone(),
                b.replid2.clone(),
                b.second_offset,
                b.end,
                Some((b.first_offset(), b.len())),
            ),
            None => (server.run_id.clone(), NO_ID.to_string(), -1, 0, None),
        }
    };
    o.push_str("# Replication\r\n");
    let st = server.replication.state.lock();
    match &st.following {
        Some(f) => {
            let up = f.link == LinkState::Connected;
            let _ = write!(
                o,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{end}\r\nslave_repl_offset:{end}\r\n",
                f.host,
                f.port,
                if up { "up" } else { "down" },
                if f.last_io_ms == 0 {
                    -1
                } else {
                    (now.saturating_sub(f.last_io_ms) / 1000) as i64
                },
                u8::from(f.link == LinkState::Sync),
            );
            if f.link == LinkState::Sync {
                let _ = write!(
                    o,
                    "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
                    if f.sync_total == 0 { -1 } else { f.sync_total as i64 },
                    f.sync_read,
                    if f.sync_total == 0 { -1 } else { f.sync_total.saturating_sub(f.sync_read) as i64 },
                    if f.sync_total == 0 { 0.0 } else { f.sync_read as f64 * 100.0 / f.sync_total as f64 },
                    now.saturating_sub(f.last_io_ms) / 1000,
                );
            }
            if !up {
                let _ = write!(
                    o,
                    "master_link_down_since_seconds:{}\r\n",
                    now.saturating_sub(f.down_since_ms) / 1000
                );
            }
            let _ = write!(
                o,
                "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
                server.config.get("replica-priority"),
                u8::from(server.config.get_bool("replica-read-only")),
            );
        }
        None => o.push_str("role:master\r\n"),
    }
    let failover = failover_state(&st);
    drop(st);
    let replicas = server.replication.replicas.lock();
    let _ = write!(o, "connected_slaves:{}\r\n", replicas.len());
    if server.config.get_i64("min-replicas-to-write") > 0
        && server.config.get_i64("min-replicas-max-lag") > 0
    {
        let _ = write!(
            o,
            "min_slaves_good_slaves:{}\r\n",
            server.replication.good_replicas.load(Ordering::Relaxed)
        );
    }
    for (i, r) in replicas.iter().enumerate() {
        let state = match r.state.load(Ordering::Acquire) {
            REPLICA_WAIT_BGSAVE => "wait_bgsave",
            REPLICA_SEND_BULK => "send_bulk",
            _ => "online",
        };
        let _ = write!(
            o,
            "slave{i}:ip={},port={},state={state},offset={},lag={}\r\n",
            r.ip,
            r.port,
            r.ack.load(Ordering::Acquire),
            now.saturating_sub(r.ack_ms.load(Ordering::Acquire).max(r.shared.created_ms)) / 1000
        );
    }
    drop(replicas);
    let _ = write!(
        o,
        "master_failover_state:{failover}\r\nmaster_replid:{replid}\r\nmaster_replid2:{replid2}\r\nmaster_repl_offset:{end}\r\nsecond_repl_offset:{second}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        u8::from(backlog.is_some()),
        server.config.get("repl-backlog-size"),
        backlog.map_or(0, |b| b.0),
        backlog.map_or(0, |b| b.1),
    );
}
