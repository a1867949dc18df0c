//! A Redis connection served by its worker's event loop: read what has
//! arrived, parse every complete command in the buffer, execute them in
//! order, write all replies in one write. A connection can also wait: for
//! the keys of a blocking command, for a CLIENT PAUSE to end, or for the
//! socket to take the rest of its output.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use engine::{Client, Outcome, Server};
use resp::{parse_command, Limits, Parsed};
use smallvec::SmallVec;

use crate::replica_feed::FeedStream;
use crate::tls::Transport;

/// Room made for one read (both kinds of connection).
pub(crate) const READ_CHUNK: usize = 16 * 1024;
/// A command with an argument this large is split off the input buffer and
/// handed to the engine, so the value can be stored without a copy (Redis
/// reads such arguments into their own buffer for the same reason).
const ADOPT_ARG: usize = 32 * 1024;
/// Commands up to this size make the next read expect another like them
/// (bigger ones would reserve, and count, that much memory ahead of time).
const EXPECT_BIG_MAX: usize = 1 << 20;
/// Longest wait between retries of a command held by CLIENT PAUSE.
const PAUSE_RETRY_MS: u64 = 100;

/// Per-thread buffers shared by the connections a thread serves: a
/// connection whose input is all complete commands needs no buffer of its
/// own (an idle connection holds none, as Redis frees idle query buffers).
#[derive(Default)]
pub(crate) struct Scratch {
    input: BytesMut,
    ranges: Vec<Range<usize>>,
    inline: Vec<Vec<u8>>,
    pushes: Vec<Bytes>,
}

/// Why a connection is not reading commands.
enum Wait {
    None,
    /// A blocking command found nothing: it runs again when a key it waits
    /// for is written, or answers at its timeout.
    Blocked {
        blocked: engine::client::Blocked,
        args: Vec<Vec<u8>>,
    },
    /// CLIENT PAUSE holds the command: retried at `retry_at` or when woken.
    Paused {
        args: Vec<Vec<u8>>,
        retry_at: u64,
    },
}

pub(crate) struct Conn {
    transport: Transport,
    client: Client,
    /// Input not yet executed: a partial command, or commands that arrived
    /// while the connection waits.
    inbuf: BytesMut,
    /// Total input size needed before parsing again (a big argument arriving).
    wait_for: usize,
    /// Size of the last command that carried a big argument: the next read
    /// goes straight into a buffer of that size, so a client that sends
    /// big values gets each in one read and kept without a copy.
    big_command: usize,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    written: usize,
    /// Bytes of pushes in `out`: they leave `push_pending` once written.
    out_pushes: usize,
    wait: Wait,
    /// Close once `out` is written (QUIT, a protocol error).
    closing: bool,
    /// `inbuf` may hold complete commands (they arrived during a wait).
    unparsed: bool,
    last_active_ms: u64,
    /// Idle past the `timeout` setting: closes when served.
    idle_timed_out: bool,
    /// The peer shut down its side (or the socket failed): read until EOF.
    pub(crate) peer_closed: bool,
    /// Since when (ms) the output has been over the soft limit of
    /// `client-output-buffer-limit normal`.
    over_soft_since: Option<u64>,
    /// Over `client-output-buffer-limit`: closes without sending the rest.
    obuf_exceeded: bool,
    /// Stopped writing at the end of its turn: served again soon.
    turn_over: bool,
    /// Replies wait in `out` for the end of the worker's round
    /// ([`Conn::finish_round`]).
    flush_due: bool,
}

pub(crate) fn configure(stream: &std::net::TcpStream, keepalive_secs: u64) {
    let _ = stream.set_nodelay(true);
    if keepalive_secs > 0 {
        let sock = socket2::SockRef::from(stream);
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(keepalive_secs))
            .with_interval(Duration::from_secs((keepalive_secs / 3).max(1)));
        let _ = sock.set_tcp_keepalive(&ka);
    }
}

/// Outcome of running the commands of a buffer.
enum Flow {
    /// Every complete command ran.
    Continue,
    /// The connection waits (blocked or paused); the rest of the input stays.
    Wait,
    /// Close once the output is written.
    Close,
}

impl Conn {
    pub(crate) fn new(transport: Transport, client: Client) -> Conn {
        Conn {
            transport,
            client,
            inbuf: BytesMut::new(),
            wait_for: 0,
            big_command: 0,
            out: Vec::new(),
            written: 0,
            out_pushes: 0,
            wait: Wait::None,
            closing: false,
            unparsed: false,
            last_active_ms: engine::now_ms(),
            idle_timed_out: false,
            peer_closed: false,
            over_soft_since: None,
            obuf_exceeded: false,
            turn_over: false,
            flush_due: false,
        }
    }

    pub(crate) fn socket(&mut self) -> &mut mio::net::TcpStream {
        self.transport.socket()
    }

    /// When the connection must be served even without events.
    pub(crate) fn deadline(&self) -> Option<u64> {
        match &self.wait {
            Wait::Blocked { blocked, .. } => blocked.deadline_ms,
            Wait::Paused { retry_at, .. } => Some(*retry_at),
            Wait::None => None,
        }
    }

    /// Whether the connection stopped writing at the end of its turn (and
    /// so needs serving again without an event); clears it.
    pub(crate) fn take_turn_over(&mut self) -> bool {
        std::mem::take(&mut self.turn_over)
    }

    /// Whether the connection can move to another worker now: between
    /// commands, nothing half read or waiting to be written, not waiting
    /// (a blocked or paused client is registered under its waker), not a
    /// replica link.
    pub(crate) fn movable(&self) -> bool {
        matches!(self.wait, Wait::None)
            && self.inbuf.is_empty()
            && self.out.is_empty()
            && !self.unparsed
            && !self.closing
            && !self.peer_closed
            && !self.obuf_exceeded
            && !self.idle_timed_out
            && !self.transport.has_pending_output()
            && self.client.replica_handover.is_none()
    }

    /// Marks the connection for closing if it is idle past the `timeout`
    /// setting (blocked clients, subscribers and monitors are exempt, as in
    /// Redis). Returns whether it did.
    pub(crate) fn check_idle(&mut self, now: u64, timeout_secs: u64) -> bool {
        self.idle_timed_out = matches!(self.wait, Wait::None)
            && !self.client.monitor
            && !self.client.shared.in_pubsub_mode()
            && now.saturating_sub(self.last_active_ms) >= timeout_secs * 1000;
        self.idle_timed_out
    }

    /// Serves the connection after an event or a wake-up (`now`: the loop's
    /// clock, ms). Returns false when it must close.
    pub(crate) fn serve(&mut self, server: &Arc<Server>, scratch: &mut Scratch, now: u64) -> bool {
        if self.idle_timed_out
            || self.client.shared.is_killed()
            || server.shutdown.load(Ordering::Acquire)
        {
            return false;
        }
        if self.obuf_exceeded {
            return false;
        }
        // Output the socket did not take last time goes first.
        if let Some(keep) = self.write_pending(server, now) {
            return keep;
        }
        if self.closing {
            return false;
        }
        loop {
            // Messages from other clients go out ahead of the replies to
            // what is read now, as one output buffer would order them.
            if self.client.shared.has_pushes() {
                self.take_pushes(scratch);
            }
            if !self.resume(server, now) {
                return false;
            }
            let (flow, drained) = if self.closing {
                (Flow::Close, true)
            } else if !matches!(self.wait, Wait::None) {
                // Keep reading so a client that goes away is noticed; what
                // it sends meanwhile runs once the wait is over.
                match self.read_while_waiting(server, scratch, now) {
                    Some(drained) if self.check_query_limit(server) => (Flow::Wait, drained),
                    _ => return false,
                }
            } else if self.unparsed {
                // Commands that arrived during a wait.
                (self.run_inbuf(server, scratch), false)
            } else {
                match self.read_and_run(server, scratch, now) {
                    Some(r) => r,
                    None => {
                        // End of input: replies already computed still go out.
                        let _ = self.flush(server);
                        return false;
                    }
                }
            };
            if let Flow::Close = flow {
                self.closing = true;
            }
            if self.obuf_exceeded {
                return false;
            }
            if drained && !self.closing {
                if self.inbuf.is_empty() && self.inbuf.capacity() > 0 {
                    // An idle connection holds no input buffer.
                    self.inbuf = BytesMut::new();
                }
                self.client
                    .shared
                    .qbuf
                    .store(self.inbuf.len(), Ordering::Relaxed);
                // The replies go out when the worker's round ends, with
                // the other connections' (as Redis writes them before it
                // sleeps): a client waiting on many connections then wakes
                // once for all of them, not once per connection.
                self.flush_due = !self.out.is_empty() || self.transport.has_pending_output();
                return true;
            }
            if let Some(keep) = self.write_pending(server, now) {
                return keep;
            }
            if self.closing {
                if self.client.replica_handover.is_none() {
                    self.transport.shutdown_write();
                }
                return false;
            }
        }
    }

    /// Whether replies wait for [`Conn::finish_round`].
    pub(crate) fn flush_due(&self) -> bool {
        self.flush_due
    }

    /// Writes the replies computed during the worker's round. Returns false
    /// when the connection must close.
    pub(crate) fn finish_round(&mut self, server: &Server, now: u64) -> bool {
        self.flush_due = false;
        self.write_pending(server, now).unwrap_or(true)
    }

    /// Writes pending output. None: all written; Some(keep): the serving
    /// stops here (the socket is full: keep unless over the output limit;
    /// a write error: close).
    fn write_pending(&mut self, server: &Server, now: u64) -> Option<bool> {
        match self.flush(server) {
            Ok(true) => None,
            Ok(false) => Some(!self.over_output_limit(server, now)),
            Err(_) => Some(false),
        }
    }

    /// Reads what has arrived and runs the complete commands. Returns the
    /// flow and whether the socket is drained; None at the end of input.
    fn read_and_run(
        &mut self,
        server: &Arc<Server>,
        scratch: &mut Scratch,
        now: u64,
    ) -> Option<(Flow, bool)> {
        let expect_big = self.inbuf.is_empty() && self.big_command > 0;
        if expect_big {
            self.inbuf = BytesMut::with_capacity(std::mem::take(&mut self.big_command));
        }
        if !self.inbuf.is_empty() || expect_big {
            // The rest of a command is awaited in the connection's buffer
            // (or a big one is expected).
            let (n, drained) = self.read_inbuf(server, now)?;
            if !self.check_query_limit(server) {
                return None;
            }
            let flow = if n > 0 && self.inbuf.len() >= self.wait_for {
                self.run_inbuf(server, scratch)
            } else {
                Flow::Continue
            };
            return Some((flow, drained));
        }
        // Whole commands run straight from the thread's scratch buffer; a
        // partial one left over moves to the connection's buffer.
        let mut input = std::mem::take(&mut scratch.input);
        input.clear();
        input.reserve(READ_CHUNK);
        let space = input.capacity();
        let read = self.transport.read_some(&mut input);
        let result = match read {
            Ok(0) => None,
            Ok(n) => {
                self.note_input(server, n, now);
                let flow = self.run_commands(server, &mut input, scratch);
                if !input.is_empty() {
                    // A big argument on its way gets a buffer of the whole
                    // command's size at once, which a value can then keep.
                    self.inbuf.reserve(self.wait_for.max(input.len()));
                    self.inbuf.extend_from_slice(&input);
                    self.unparsed = matches!(flow, Flow::Wait);
                }
                Some((flow, n < space && !self.peer_closed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Some((Flow::Continue, true)),
            Err(_) => None,
        };
        input.clear();
        scratch.input = input;
        result
    }

    /// Reads during a wait: what arrives is kept for later (read through the
    /// scratch buffer, so a waiting connection allocates nothing until then).
    /// Returns whether the socket is drained; None at the end of input.
    fn read_while_waiting(
        &mut self,
        server: &Server,
        scratch: &mut Scratch,
        now: u64,
    ) -> Option<bool> {
        let input = &mut scratch.input;
        input.clear();
        input.reserve(READ_CHUNK);
        let space = input.capacity();
        match self.transport.read_some(input) {
            Ok(0) => None,
            Ok(n) => {
                self.note_input(server, n, now);
                self.inbuf.extend_from_slice(input);
                self.unparsed = true;
                Some(n < space && !self.peer_closed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Some(true),
            Err(_) => None,
        }
    }

    /// Reads into the connection's own buffer. Returns (bytes read,
    /// drained); None at the end of input.
    fn read_inbuf(&mut self, server: &Arc<Server>, now: u64) -> Option<(usize, bool)> {
        if self.wait_for > self.inbuf.capacity() {
            // A large argument is on its way: read it into a buffer of
            // exactly its command's size, which a value can then keep.
            let mut fresh = BytesMut::with_capacity(self.wait_for);
            fresh.extend_from_slice(&self.inbuf);
            self.inbuf = fresh;
        } else if self.inbuf.capacity() - self.inbuf.len() < READ_CHUNK / 4 {
            self.inbuf.reserve(READ_CHUNK);
        }
        let space = self.inbuf.capacity() - self.inbuf.len();
        match self.transport.read_some(&mut self.inbuf) {
            Ok(0) => None,
            Ok(n) => {
                self.note_input(server, n, now);
                Some((n, n < space && !self.peer_closed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Some((0, true)),
            Err(_) => None,
        }
    }

    fn note_input(&mut self, server: &Server, n: usize, now: u64) {
        server.stats.net_input_bytes.add(n as u64);
        server.stats.total_reads.incr();
        self.last_active_ms = now;
    }

    /// Like Redis: a client whose query buffer outgrows the limit is closed.
    fn check_query_limit(&self, server: &Server) -> bool {
        let limit = server
            .config
            .hot
            .client_query_buffer_limit
            .load(Ordering::Relaxed);
        if self.inbuf.len() as u64 > limit {
            server.stats.client_query_buffer_limit_disconnections.incr();
            return false;
        }
        true
    }

    fn run_inbuf(&mut self, server: &Arc<Server>, scratch: &mut Scratch) -> Flow {
        let mut input = std::mem::take(&mut self.inbuf);
        let flow = self.run_commands(server, &mut input, scratch);
        self.inbuf = input;
        self.unparsed = matches!(flow, Flow::Wait) && !self.inbuf.is_empty();
        self.client
            .shared
            .qbuf
            .store(self.inbuf.len(), Ordering::Relaxed);
        flow
    }

    /// Runs the complete commands at the front of `input`, removing them.
    fn run_commands(
        &mut self,
        server: &Arc<Server>,
        input: &mut BytesMut,
        scratch: &mut Scratch,
    ) -> Flow {
        let client = &mut self.client;
        let limits = Limits {
            max_bulk_len: server.config.hot.proto_max_bulk_len.load(Ordering::Relaxed),
            authenticated: client.authenticated,
        };
        let Scratch { ranges, inline, .. } = scratch;
        // `client-output-buffer-limit normal` (pub/sub subscribers have a
        // class of their own, enforced where messages are queued).
        let obuf_hard = if client.shared.in_pubsub_mode() {
            0
        } else {
            server.config.hot.obuf_normal_hard.load(Ordering::Relaxed)
        };
        let mut pos = 0;
        let mut flow = Flow::Continue;
        self.wait_for = 0;
        // When the last command ended: the next one's start.
        let mut clock = None;
        while pos < input.len() {
            match parse_command(&input[pos..], &limits, ranges, inline) {
                Ok(Parsed::Command { consumed }) => {
                    // CLIENT LIST's qbuf counts the running command, as in Redis.
                    client
                        .shared
                        .qbuf
                        .store(input.len() - pos, Ordering::Relaxed);
                    // A large argument: the command's bytes leave the input
                    // buffer (no copy) so a value can keep them. Only when
                    // the buffer holds little else, which the value would
                    // keep alive too.
                    let adopt = inline.is_empty()
                        && pos == 0
                        && input.capacity() <= consumed + READ_CHUNK
                        && ranges.iter().any(|r| r.len() >= ADOPT_ARG);
                    let frozen = adopt.then(|| {
                        if consumed <= EXPECT_BIG_MAX {
                            self.big_command = consumed;
                        }
                        let command = input.split_to(consumed).freeze();
                        // The rest gets a buffer of its own: sharing the
                        // command's would keep a value's memory alive after
                        // the value is deleted, as long as the connection.
                        *input = BytesMut::from(&input[..]);
                        command
                    });
                    client.arg_buf = frozen.clone();
                    // Arguments point into the input buffer (no copies).
                    let (src, base): (&[u8], usize) = match &frozen {
                        Some(b) => (b, 0),
                        None => (input, pos),
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
                    let outcome =
                        engine::execute_timed(server, client, &args, &mut self.out, &mut clock);
                    client.arg_buf = None;
                    if obuf_hard > 0 && self.out.len() as u64 > obuf_hard {
                        // Like Redis: no more replies pile up; the client
                        // is closed without the rest.
                        self.obuf_exceeded = true;
                        note_obuf_exceeded(server, client);
                        flow = Flow::Close;
                        break;
                    }
                    if let Outcome::Paused(ms) = outcome {
                        client
                            .shared
                            .blocked_since
                            .store(engine::now_ms() as i64, Ordering::Relaxed);
                        self.wait = Wait::Paused {
                            args: args.iter().map(|a| a.to_vec()).collect(),
                            retry_at: engine::now_ms() + ms.min(PAUSE_RETRY_MS),
                        };
                        flow = Flow::Wait;
                        break;
                    }
                    if let Some(blocked) = client.blocked.take() {
                        client
                            .shared
                            .blocked_since
                            .store(engine::now_ms() as i64, Ordering::Relaxed);
                        self.wait = Wait::Blocked {
                            blocked,
                            args: args.iter().map(|a| a.to_vec()).collect(),
                        };
                        flow = Flow::Wait;
                        break;
                    }
                    // PSYNC/SYNC: the connection leaves for replication
                    // once the replies so far are out (see `close`).
                    if client.close_after_reply || client.replica_handover.is_some() {
                        flow = Flow::Close;
                        break;
                    }
                }
                Ok(Parsed::Incomplete { hint }) => {
                    // A big argument is still arriving: wait for all of it
                    // before parsing again (no quadratic reparsing or copying).
                    self.wait_for = if hint > 0 { hint } else { 0 };
                    break;
                }
                Err(e) => {
                    // Like Redis: reply with the error, then close.
                    resp::ReplyWriter::new(&mut self.out, client.proto).error_bytes(&e.0);
                    server.count_error(&e.0);
                    flow = Flow::Close;
                    break;
                }
            }
        }
        if pos > 0 {
            input.advance(pos);
        }
        // A command with very many arguments leaves a big argument index
        // behind: give it back (it counts in used_memory).
        if ranges.capacity() > 4096 {
            *ranges = Vec::new();
        }
        flow
    }

    /// Moves queued pushes into the output, unless earlier output is still
    /// waiting for the socket (then they stay queued, and count against the
    /// pub/sub output buffer limit).
    fn take_pushes(&mut self, scratch: &mut Scratch) {
        if !self.out.is_empty() {
            return;
        }
        let pushes = &mut scratch.pushes;
        self.client.shared.take_pushes(pushes);
        for p in pushes.drain(..) {
            self.out_pushes += p.len();
            self.out.extend_from_slice(&p);
        }
    }

    /// Moves a waiting connection on: a blocked command whose key was
    /// written runs again, a timeout or CLIENT UNBLOCK answers it, a paused
    /// command is retried. Returns false when the connection must close.
    fn resume(&mut self, server: &Arc<Server>, now: u64) -> bool {
        let shared = self.client.shared.clone();
        match std::mem::replace(&mut self.wait, Wait::None) {
            Wait::None => true,
            Wait::Paused { args, retry_at } => {
                if now < retry_at && server.pause.is_paused(now) {
                    self.wait = Wait::Paused { args, retry_at };
                    return true;
                }
                shared.blocked_since.store(0, Ordering::Relaxed);
                let outcome = {
                    let argv: SmallVec<[&[u8]; 16]> = args.iter().map(|a| a.as_slice()).collect();
                    engine::execute(server, &mut self.client, &argv, &mut self.out)
                };
                match outcome {
                    Outcome::Paused(ms) => {
                        shared.blocked_since.store(now as i64, Ordering::Relaxed);
                        self.wait = Wait::Paused {
                            args,
                            retry_at: now + ms.min(PAUSE_RETRY_MS),
                        };
                    }
                    Outcome::Done => self.after_resumed(args),
                }
                self.closing |= self.client.close_after_reply;
                true
            }
            Wait::Blocked { blocked, args } => self.resume_blocked(server, blocked, args, now),
        }
    }

    /// After a held command ran: it may block in turn.
    fn after_resumed(&mut self, args: Vec<Vec<u8>>) {
        if let Some(blocked) = self.client.blocked.take() {
            self.client
                .shared
                .blocked_since
                .store(engine::now_ms() as i64, Ordering::Relaxed);
            self.wait = Wait::Blocked { blocked, args };
        }
    }

    fn resume_blocked(
        &mut self,
        server: &Arc<Server>,
        mut blocked: engine::client::Blocked,
        args: Vec<Vec<u8>>,
        now: u64,
    ) -> bool {
        let shared = self.client.shared.clone();
        let ready = &server.keyspace.ready;
        let unblock = shared.unblock.swap(0, Ordering::AcqRel);
        let timed_out = blocked.deadline_ms.is_some_and(|d| now >= d);
        if timed_out && unblock == 0 && blocked.rerun_on_timeout {
            // The command gives its own reply at the timeout (WAIT).
            self.client.block_timed_out = true;
            blocked.woken.store(true, Ordering::Release);
        }
        // A key written before the timeout is served even if the timeout
        // passed meanwhile.
        if unblock != 0 || (timed_out && !blocked.woken.load(Ordering::Acquire)) {
            ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
            let mut w = resp::ReplyWriter::new(&mut self.out, self.client.proto);
            if unblock == 2 {
                w.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            } else if blocked.timeout_null_array {
                w.null_array();
            } else {
                w.null();
            }
            shared.blocked_since.store(0, Ordering::Relaxed);
            return true;
        }
        if !blocked.woken.load(Ordering::Acquire) {
            self.wait = Wait::Blocked { blocked, args };
            return true;
        }
        // The woken client keeps its place at the head of the queues while
        // it runs again: its own pop wakes nobody else, so the next waiter
        // is woken only once this one is done and service stays FIFO across
        // threads. If it finds nothing, its new registration takes the place.
        let client = &mut self.client;
        client.block_retry = true;
        {
            let rerun: SmallVec<[&[u8]; 16]> = match &blocked.rerun_args {
                Some(rerun) => rerun.iter().map(|a| a.as_slice()).collect(),
                None => args.iter().map(|a| a.as_slice()).collect(),
            };
            engine::execute(server, client, &rerun, &mut self.out);
        }
        client.block_retry = false;
        match client.blocked.take() {
            None => {
                // Served, or answered with an error (a destination of the
                // wrong type): whatever is left in the keys is for the next
                // waiter, as Redis serves every blocked client the key can
                // satisfy.
                ready.unregister(blocked.db, &blocked.keys, &blocked.waiter);
                for key in &blocked.keys {
                    ready.signal(blocked.db, key);
                }
                shared.blocked_since.store(0, Ordering::Relaxed);
            }
            Some(mut again) => {
                again.deadline_ms = blocked.deadline_ms;
                if again.rerun_args.is_none() {
                    again.rerun_args = blocked.rerun_args.take();
                }
                // Nothing for this client: the one behind it may wait for
                // something else (another stream group, an earlier id, a
                // zset where this one waits for a list), and Redis serves
                // every blocked client the write satisfies.
                ready.signal_behind(again.db, &again.keys, &again.waiter);
                self.wait = Wait::Blocked {
                    blocked: again,
                    args,
                };
            }
        }
        true
    }

    /// Output the socket does not take: over the soft limit of
    /// `client-output-buffer-limit normal` for its seconds (or over the hard
    /// limit), the client is closed. Returns whether it must close.
    fn over_output_limit(&mut self, server: &Server, now: u64) -> bool {
        if self.client.shared.in_pubsub_mode() {
            return false;
        }
        let hot = &server.config.hot;
        let (hard, soft) = (
            hot.obuf_normal_hard.load(Ordering::Relaxed),
            hot.obuf_normal_soft.load(Ordering::Relaxed),
        );
        let pending = (self.out.len() - self.written) as u64;
        let soft_for = if soft > 0 && pending > soft {
            now.saturating_sub(*self.over_soft_since.get_or_insert(now))
        } else {
            self.over_soft_since = None;
            0
        };
        let soft_secs = hot.obuf_normal_soft_secs.load(Ordering::Relaxed);
        let exceeded = (hard > 0 && pending > hard)
            || (self.over_soft_since.is_some() && soft_for >= soft_secs * 1000);
        if exceeded {
            self.obuf_exceeded = true;
            note_obuf_exceeded(server, &self.client);
        }
        exceeded
    }

    /// Writes pending output. Ok(true): all written; Ok(false): the socket
    /// is full (the rest goes out on the next writable event).
    fn flush(&mut self, server: &Server) -> std::io::Result<bool> {
        if self.out.is_empty() && !self.transport.has_pending_output() {
            return Ok(true);
        }
        if self.written == 0 {
            // The AOF holds what these replies depend on before they leave.
            engine::aof::before_reply(server);
        }
        let Some(n) =
            self.transport
                .write_out(&mut self.out, &mut self.written, &mut self.turn_over)?
        else {
            return Ok(false);
        };
        server.stats.net_output_bytes.add(n as u64);
        server.stats.total_writes.incr();
        if self.out_pushes > 0 {
            self.client
                .shared
                .push_pending
                .fetch_sub(self.out_pushes, Ordering::AcqRel);
            self.out_pushes = 0;
        }
        Ok(true)
    }

    /// Ends the connection: leaves every registry it is in.
    pub(crate) fn close(mut self, server: &Arc<Server>) {
        let client = &mut self.client;
        if let Wait::Blocked { blocked, .. } = &self.wait {
            server
                .keyspace
                .ready
                .unregister(blocked.db, &blocked.keys, &blocked.waiter);
        }
        engine::tracking::disable(server, client);
        engine::multi::unwatch_all(server, client);
        engine::pubsub::unsubscribe_all(server, client);
        if client.monitor {
            let mut m = server.monitors.lock();
            m.retain(|x| x.client_id != client.id());
            server.monitor_count.store(m.len(), Ordering::Relaxed);
        }
        if let Some(request) = client.replica_handover.take() {
            // A replica: fed by a thread of its own from now on.
            let shared = client.shared.clone();
            let stream = match self.transport {
                Transport::Plain(stream) => FeedStream::Plain(stream.into()),
                Transport::Tls(tls) => FeedStream::Tls(tls.into_shared()),
            };
            crate::replica_feed::start(server, stream, shared, *request);
            return;
        }
        server.clients.unregister(client.id());
    }
}

/// Counts and logs a client closed for its output buffer, as Redis does.
fn note_obuf_exceeded(server: &Server, client: &Client) {
    server
        .stats
        .client_output_buffer_limit_disconnections
        .incr();
    tracing::warn!(
        "Client id={} addr={} closed for overcoming of output buffer limits.",
        client.id(),
        client.shared.addr
    );
}
