//! A Redis-engine worker: one thread running an epoll loop (mio) over its
//! connections, as Redis's event loop does, without an async runtime in
//! between (tokio's scheduler cost about a third of the user time of an
//! unpipelined request; see docs/architecture.md).
//!
//! Other threads reach a connection through its waker ([`ClientShared::wake`]):
//! the connection's token goes into the worker's inbox and the poll wakes.
//! The acceptor hands new sockets over the same inbox.
//!
//! A Redis connection can move to another worker between commands (see
//! `balance`): its waker goes through its [`Home`], which names the worker
//! and token it has now.
//!
//! A command that will keep its thread for long (a busy script, a long lock
//! wait) calls `engine::release_worker`: another thread then runs this loop
//! meanwhile, so the worker's other connections are served (and can send
//! SCRIPT KILL). The loop's state sits behind a mutex for that reason; a
//! connection is taken out of it while it is served.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use engine::{Client, ClientShared, Server};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::{Mutex, MutexGuard};
use slab::Slab;

use crate::conn::{Conn, Scratch};
use crate::mc_conn::McConn;
use crate::tls::{TlsContext, Transport};
use crate::Protocol;

const WAKER: Token = Token(usize::MAX);
/// The longest the loop sleeps: it notices a shutdown within this time.
const MAX_SLEEP_MS: u64 = 100;
/// How many times a round serves the clients its own commands woke before
/// it writes its replies.
const MAX_WAKE_PASSES: usize = 4;

pub(crate) struct Worker {
    server: Arc<Server>,
    protocol: Protocol,
    /// The TLS settings of connections accepted on a TLS port.
    tls: Arc<TlsContext>,
    name: String,
    registry: Registry,
    waker: Waker,
    inbox: Mutex<Inbox>,
    state: Mutex<State>,
    /// Threads running this loop that are not stuck in a long command.
    free_loopers: AtomicUsize,
    /// The waker was rung since the loop last looked at the inbox (rings
    /// in between need no syscall).
    rung: AtomicBool,
    /// The CPU-time clock of the worker's thread (`NO_CLOCK` until it runs).
    cpu_clock: AtomicI32,
    /// The worker thread's id (0 until it runs), for its scheduler
    /// statistics.
    tid: AtomicI32,
    /// Time spent polling for events without sleeping (ns): idle time that
    /// the thread's statistics count as running.
    spun_ns: AtomicU64,
}

const NO_CLOCK: libc::clockid_t = libc::clockid_t::MAX;

/// Where a connection is: its worker and its token there. The
/// connection's waker reads it, so a wake-up finds the connection after it
/// moved to another worker.
struct Home {
    at: Mutex<(Weak<Worker>, usize)>,
}

impl Home {
    fn wake(&self) {
        let (worker, token) = {
            let at = self.at.lock();
            (at.0.upgrade(), at.1)
        };
        if let Some(w) = worker {
            w.attend(token);
        }
    }
}

/// A request to move connections away (see `balance::Move`).
struct Emigrate {
    to: Vec<Arc<Worker>>,
    every: usize,
}

#[derive(Default)]
struct Inbox {
    /// (socket, peer, client id, came through a TLS port).
    accepted: Vec<(std::net::TcpStream, SocketAddr, u64, bool)>,
    /// Tokens of connections woken by other threads.
    attend: Vec<usize>,
    /// Connections moved here from another worker (boxed as in
    /// `Slot::Here`: a move moves a pointer).
    #[allow(clippy::vec_box)]
    arriving: Vec<Box<AnyConn>>,
    emigrate: Option<Emigrate>,
}

struct State {
    poll: Poll,
    conns: Slab<Slot>,
    /// (deadline ms, token): blocking timeouts and pause retries. Entries
    /// can be stale; a connection checks its own deadline when served.
    timers: BinaryHeap<Reverse<(u64, usize)>>,
    /// Connections to serve again next round with no event (their output
    /// is still being written, a turn at a time).
    turns: Vec<usize>,
    /// Connections whose replies are written at the end of this round.
    unflushed: Vec<usize>,
    last_sweep_ms: u64,
}

/// What a visit to a connection does.
#[derive(Clone, Copy)]
enum Visit {
    /// Read, run what arrived, write (or leave the replies for the round's
    /// end).
    Serve,
    /// Write the replies left for the round's end.
    Flush,
}

enum Slot {
    Here(Box<AnyConn>),
    /// Being served by a thread; `missed`: events arrived meanwhile.
    Away {
        missed: bool,
    },
}

thread_local! {
    /// This thread called `release_worker` during the connection it serves.
    static RELEASED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Tokens this thread has yet to serve in this round of the loop; a
    /// thread that goes busy hands them to the thread that takes over.
    static READY: std::cell::RefCell<VecDeque<usize>> =
        const { std::cell::RefCell::new(VecDeque::new()) };
}

fn next_ready() -> Option<usize> {
    READY.with(|r| r.borrow_mut().pop_front())
}

impl Worker {
    /// Starts a worker thread.
    pub(crate) fn start(
        server: Arc<Server>,
        protocol: Protocol,
        tls: Arc<TlsContext>,
        name: String,
    ) -> std::io::Result<(Arc<Worker>, std::thread::JoinHandle<()>)> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(&registry, WAKER)?;
        let worker = Arc::new(Worker {
            server,
            protocol,
            tls,
            name: name.clone(),
            registry,
            waker,
            inbox: Mutex::new(Inbox::default()),
            state: Mutex::new(State {
                poll,
                conns: Slab::new(),
                timers: BinaryHeap::new(),
                turns: Vec::new(),
                unflushed: Vec::new(),
                last_sweep_ms: 0,
            }),
            free_loopers: AtomicUsize::new(1),
            rung: AtomicBool::new(false),
            cpu_clock: AtomicI32::new(NO_CLOCK),
            tid: AtomicI32::new(0),
            spun_ns: AtomicU64::new(0),
        });
        let w = worker.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || w.run(false))?;
        Ok((worker, thread))
    }

    /// Takes an accepted connection (from the acceptor thread).
    pub(crate) fn hand(&self, stream: std::net::TcpStream, peer: SocketAddr, id: u64, tls: bool) {
        self.inbox.lock().accepted.push((stream, peer, id, tls));
        self.ring();
    }

    /// Moves connections that are between commands to `to` (in turn), one
    /// in `every`; the loop does it at its next round.
    pub(crate) fn emigrate(&self, to: Vec<Arc<Worker>>, every: usize) {
        self.inbox.lock().emigrate = Some(Emigrate { to, every });
        self.ring();
    }

    /// The time the worker's thread has spent running or waiting for a
    /// core (ns), once it runs: its demand for CPU. Its CPU time alone
    /// understates that when it is often preempted (a client woken by its
    /// reply takes its core while the other core idles). Where /proc has
    /// no scheduler statistics, its CPU time. Spinning for events
    /// (`worker-spin-us`) does not count.
    pub(crate) fn busy_ns(&self) -> Option<u64> {
        let busy = match self.tid.load(Ordering::Relaxed) {
            0 => None,
            tid => run_and_wait_ns(tid).or_else(|| match self.cpu_clock.load(Ordering::Relaxed) {
                NO_CLOCK => None,
                clock => clock_ns(clock),
            }),
        }?;
        Some(busy.saturating_sub(self.spun_ns.load(Ordering::Relaxed)))
    }

    /// Polls without sleeping for up to `spin`: true when events came (in
    /// `events`).
    ///
    /// After a round that served connections, the loop spins like this
    /// (`worker-spin-us`) before it sleeps in `epoll_wait`. Unpipelined
    /// clients send their next requests microseconds apart: a worker that
    /// slept between them had to be woken for each, a cross-core wake-up
    /// that the sending client pays for in its `sendto`. On 50 connections
    /// the worker slept once per 4.4 requests against Redis's 5.5 (the
    /// faster loop idled more often), and redis-benchmark, which has one
    /// core, served 3% fewer requests; spinning 10 µs gave 8% more than
    /// Redis, at 7% more server CPU per request. It is off by default:
    /// where the clients need every core (4 load processes on 2 cores),
    /// the spin takes their time (MULTI/EXEC ×P16 0.94× → 0.71–0.82×).
    fn spin_poll(&self, poll: &mut Poll, events: &mut Events, spin: Duration) -> bool {
        let start = Instant::now();
        let got = loop {
            if poll.poll(events, Some(Duration::ZERO)).is_ok() && !events.is_empty() {
                break true;
            }
            if start.elapsed() >= spin {
                break false;
            }
            std::hint::spin_loop();
        };
        self.spun_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        got
    }

    fn attend(&self, token: usize) {
        self.inbox.lock().attend.push(token);
        self.ring();
    }

    fn ring(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    /// The event loop. A helper (started by `release`) leaves as soon as
    /// another free thread runs the loop again.
    fn run(self: Arc<Self>, helper: bool) {
        let weak = Arc::downgrade(&self);
        engine::set_release_worker(Some(Box::new(move || release(&weak))));
        if !helper {
            if let Some(clock) = own_cpu_clock() {
                self.cpu_clock.store(clock, Ordering::Relaxed);
            }
            // SAFETY: gettid has no preconditions and cannot fail.
            self.tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
        }
        let mut events = Events::with_capacity(256);
        let mut ready: Vec<usize> = Vec::new();
        READY.with(|r| r.borrow_mut().clear());
        let mut scratch = Scratch::default();
        let server = self.server.clone();
        // The last round served a connection: spin before sleeping.
        let mut served = false;
        loop {
            if server.shutdown.load(Ordering::Acquire) {
                break;
            }
            if helper {
                let free = self.free_loopers.load(Ordering::Acquire);
                if free > 1
                    && self
                        .free_loopers
                        .compare_exchange(free, free - 1, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    return;
                }
            }
            let mut st = self.state.lock();
            let sleep = match st.timers.peek() {
                _ if !st.turns.is_empty() => 0,
                Some(Reverse((at, _))) => at.saturating_sub(engine::now_ms()).min(MAX_SLEEP_MS),
                None => MAX_SLEEP_MS,
            };
            let spin =
                Duration::from_micros(server.config.hot.worker_spin_us.load(Ordering::Relaxed));
            let spun = served
                && sleep > 0
                && !spin.is_zero()
                && self.spin_poll(&mut st.poll, &mut events, spin);
            if spun {
                // Events came while spinning.
            } else if let Err(e) = st
                .poll
                .poll(&mut events, Some(Duration::from_millis(sleep)))
            {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::warn!("{}: poll failed: {e}", self.name);
                }
                continue;
            }
            ready.clear();
            ready.append(&mut st.turns);
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                let token = ev.token().0;
                if ev.is_read_closed() || ev.is_error() {
                    // The peer's FIN may have come with the last data, in
                    // the same edge: a short read no longer means drained.
                    if let Some(Slot::Here(conn)) = st.conns.get_mut(token) {
                        conn.note_peer_closed();
                    }
                }
                ready.push(token);
            }
            self.rung.store(false, Ordering::Release);
            let inbox = std::mem::take(&mut *self.inbox.lock());
            ready.extend_from_slice(&inbox.attend);
            for (stream, peer, id, tls) in inbox.accepted {
                self.add_conn(&mut st, stream, peer, id, tls);
            }
            for conn in inbox.arriving {
                // Served once here: what arrived while it moved is read.
                ready.extend(self.settle(&mut st, conn));
            }
            if let Some(e) = inbox.emigrate {
                self.send_away(&mut st, e);
            }
            let now = engine::now_ms();
            while let Some(&Reverse((at, token))) = st.timers.peek() {
                if at > now {
                    break;
                }
                st.timers.pop();
                ready.push(token);
            }
            if now >= st.last_sweep_ms + 1000 {
                st.last_sweep_ms = now;
                sweep_idle(&server, &mut st, now, &mut ready);
            }
            served = !ready.is_empty();
            READY.with(|r| r.borrow_mut().extend(ready.drain(..)));
            let mut passes = 0;
            loop {
                while let Some(token) = next_ready() {
                    if let Some(again) =
                        self.serve_one(&mut st, token, &mut scratch, now, Visit::Serve)
                    {
                        READY.with(|r| r.borrow_mut().push_back(again));
                    }
                }
                // Clients that this round's commands woke (a blocked BLMOVE
                // whose list got an element, which may wake the next) run
                // before the replies go out, as Redis serves them before it
                // writes: the pusher sees their effects once it has its
                // reply. A few passes at most, so wake-ups from other
                // threads cannot hold the round's replies back.
                passes += 1;
                // (`rung` stays false until something lands in the inbox.)
                if passes <= MAX_WAKE_PASSES && self.rung.load(Ordering::Acquire) {
                    let woken = std::mem::take(&mut self.inbox.lock().attend);
                    if !woken.is_empty() {
                        READY.with(|r| r.borrow_mut().extend(woken));
                        continue;
                    }
                }
                if st.unflushed.is_empty() {
                    break;
                }
                // The round's replies go out together.
                let mut unflushed = std::mem::take(&mut st.unflushed);
                for token in unflushed.drain(..) {
                    if let Some(again) =
                        self.serve_one(&mut st, token, &mut scratch, now, Visit::Flush)
                    {
                        READY.with(|r| r.borrow_mut().push_back(again));
                    }
                }
                if st.unflushed.is_empty() {
                    st.unflushed = unflushed;
                }
            }
        }
        if !helper {
            // Shutdown: close every connection this worker holds.
            let mut st = self.state.lock();
            let conns: Vec<Slot> = st.conns.drain().collect();
            drop(st);
            for slot in conns {
                if let Slot::Here(conn) = slot {
                    conn.close(&server);
                }
            }
        }
    }

    /// Serves the connection of `token` (or writes its round's replies)
    /// with the state unlocked. Returns the token again if events arrived
    /// for it meanwhile.
    fn serve_one(
        &self,
        st: &mut MutexGuard<'_, State>,
        token: usize,
        scratch: &mut Scratch,
        now: u64,
        visit: Visit,
    ) -> Option<usize> {
        let mut conn = match st.conns.get_mut(token) {
            Some(slot @ Slot::Here(_)) => {
                match std::mem::replace(slot, Slot::Away { missed: false }) {
                    Slot::Here(conn) => conn,
                    Slot::Away { .. } => return None,
                }
            }
            Some(Slot::Away { missed }) => {
                // (The thread serving it writes its replies.)
                *missed |= matches!(visit, Visit::Serve);
                return None;
            }
            None => return None,
        };
        let server = &self.server;
        let keep = MutexGuard::unlocked(st, || {
            // A bug hit by one client's input closes that client, not the
            // worker and every connection it serves.
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match visit {
                Visit::Serve => conn.serve(server, scratch, now),
                Visit::Flush => conn.finish_round(server, now),
            }));
            let keep = served.unwrap_or_else(|_| {
                tracing::error!(
                    "{}: a command panicked: its connection is closed",
                    self.name
                );
                false
            });
            if RELEASED.with(|r| r.replace(false)) {
                // Back from a long command: a helper can leave now.
                self.free_loopers.fetch_add(1, Ordering::AcqRel);
                self.ring();
            }
            if !keep {
                let _ = self.registry.deregister(conn.socket());
            }
            keep
        });
        let missed = matches!(st.conns.get(token), Some(Slot::Away { missed: true }));
        if keep {
            if let Some(at) = conn.deadline() {
                st.timers.push(Reverse((at, token)));
            }
            if conn.take_turn_over() {
                // It wrote its turn's share: it goes on in the next round,
                // after whatever the next poll brings.
                st.turns.push(token);
            }
            if conn.flush_due() {
                st.unflushed.push(token);
            }
            st.conns[token] = Slot::Here(conn);
            missed.then_some(token)
        } else {
            st.conns.remove(token);
            MutexGuard::unlocked(st, || conn.close(server));
            None
        }
    }

    fn add_conn(
        self: &Arc<Self>,
        st: &mut State,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        id: u64,
        tls: bool,
    ) {
        let entry = st.conns.vacant_entry();
        let token = entry.key();
        let weak: Weak<Worker> = Arc::downgrade(self);
        let tls = tls.then_some(&*self.tls);
        let home = Arc::new(Home {
            at: Mutex::new((weak, token)),
        });
        let waker = home.clone();
        let conn = match &self.protocol {
            Protocol::Redis => self
                .open_redis(stream, peer, id, tls, Box::new(move || waker.wake()))
                .map(|c| AnyConn::Redis(c, home)),
            Protocol::Memcached(mc) => {
                McConn::open(mc, stream, tls, Arc::new(move || waker.wake()))
                    .map(|c| AnyConn::Memcached(c, home))
            }
        };
        let Some(mut conn) = conn else { return };
        if let Err(e) = self.registry.register(
            conn.socket(),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!("{}: cannot watch a connection: {e}", self.name);
            Box::new(conn).close(&self.server);
            return;
        }
        entry.insert(Slot::Here(Box::new(conn)));
    }

    /// Takes a connection moved here; returns its token.
    fn settle(self: &Arc<Self>, st: &mut State, mut conn: Box<AnyConn>) -> Option<usize> {
        let entry = st.conns.vacant_entry();
        let token = entry.key();
        *conn.home().at.lock() = (Arc::downgrade(self), token);
        // Edge-triggered: input that arrived meanwhile is reported now.
        if let Err(e) = self.registry.register(
            conn.socket(),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!("{}: cannot watch a connection: {e}", self.name);
            conn.close(&self.server);
            return None;
        }
        entry.insert(Slot::Here(conn));
        Some(token)
    }

    /// Hands connections that are between commands to other workers.
    fn send_away(self: &Arc<Self>, st: &mut State, e: Emigrate) {
        if e.to.is_empty() {
            return;
        }
        let movable: Vec<usize> = st
            .conns
            .iter()
            .filter_map(|(token, slot)| match slot {
                Slot::Here(conn) if conn.movable() => Some(token),
                _ => None,
            })
            .step_by(e.every.max(1))
            .collect();
        let mut leaving: Vec<Vec<Box<AnyConn>>> = e.to.iter().map(|_| Vec::new()).collect();
        for (i, token) in movable.into_iter().enumerate() {
            let Slot::Here(mut conn) = st.conns.remove(token) else {
                continue;
            };
            if let Err(err) = self.registry.deregister(conn.socket()) {
                tracing::warn!("{}: cannot move a connection: {err}", self.name);
                let _ = self.settle(st, conn);
                continue;
            }
            leaving[i % e.to.len()].push(conn);
        }
        for (worker, conns) in e.to.iter().zip(leaving) {
            if !conns.is_empty() {
                worker.inbox.lock().arriving.extend(conns);
                worker.ring();
            }
        }
    }

    /// A Redis connection, or None past `maxclients`.
    fn open_redis(
        &self,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        id: u64,
        tls: Option<&TlsContext>,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Option<Conn> {
        let server = &self.server;
        server.stats.connections_received.incr();
        let maxclients = server.config.hot.maxclients.load(Ordering::Relaxed) as usize;
        if server.clients.len() >= maxclients {
            server.stats.rejected_connections.incr();
            use std::io::Write;
            let _ = (&stream).write(b"-ERR max number of clients reached\r\n");
            return None;
        }
        if server.config.get_bool("protected-mode")
            && server.acl.default_user().perms().nopass
            && !peer.ip().to_canonical().is_loopback()
        {
            use std::io::Write;
            let _ = (&stream).write(PROTECTED_MODE_DENIED.as_bytes());
            return None;
        }
        crate::conn::configure(&stream, server.config.get_i64("tcp-keepalive") as u64);
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        let transport = Transport::for_accepted(stream, tls)?;
        let shared = Arc::new(ClientShared::new(
            id,
            peer.to_string(),
            local,
            fd,
            engine::now_ms(),
        ));
        shared.set_waker(wake);
        server.clients.register(shared.clone());
        let client = Client::for_connection(server, shared);
        Some(Conn::new(transport, client))
    }
}

/// Redis 7.0's refusal of a non-loopback client in protected mode (with its
/// wording, typo included).
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// A connection of either engine.
// Always boxed (`Slot::Here`): the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum AnyConn {
    Redis(Conn, Arc<Home>),
    Memcached(McConn, Arc<Home>),
}

impl AnyConn {
    fn home(&self) -> &Home {
        match self {
            AnyConn::Redis(_, home) | AnyConn::Memcached(_, home) => home,
        }
    }

    fn serve(&mut self, server: &Arc<Server>, scratch: &mut Scratch, now: u64) -> bool {
        match self {
            AnyConn::Redis(c, _) => c.serve(server, scratch, now),
            AnyConn::Memcached(c, _) => c.serve(),
        }
    }

    fn finish_round(&mut self, server: &Server, now: u64) -> bool {
        match self {
            AnyConn::Redis(c, _) => c.finish_round(server, now),
            AnyConn::Memcached(..) => true,
        }
    }

    fn flush_due(&self) -> bool {
        match self {
            AnyConn::Redis(c, _) => c.flush_due(),
            AnyConn::Memcached(..) => false,
        }
    }

    fn socket(&mut self) -> &mut mio::net::TcpStream {
        match self {
            AnyConn::Redis(c, _) => c.socket(),
            AnyConn::Memcached(c, _) => c.socket(),
        }
    }

    fn take_turn_over(&mut self) -> bool {
        match self {
            AnyConn::Redis(c, _) => c.take_turn_over(),
            AnyConn::Memcached(c, _) => c.take_turn_over(),
        }
    }

    fn movable(&self) -> bool {
        match self {
            AnyConn::Redis(c, _) => c.movable(),
            AnyConn::Memcached(c, _) => c.movable(),
        }
    }

    fn note_peer_closed(&mut self) {
        match self {
            AnyConn::Redis(c, _) => c.peer_closed = true,
            AnyConn::Memcached(c, _) => c.peer_closed = true,
        }
    }

    fn deadline(&self) -> Option<u64> {
        match self {
            AnyConn::Redis(c, _) => c.deadline(),
            AnyConn::Memcached(..) => None,
        }
    }

    fn check_idle(&mut self, now: u64, timeout_secs: u64) -> bool {
        match self {
            AnyConn::Redis(c, _) => c.check_idle(now, timeout_secs),
            AnyConn::Memcached(..) => false,
        }
    }

    fn close(self: Box<Self>, server: &Arc<Server>) {
        match *self {
            AnyConn::Redis(c, _) => c.close(server),
            AnyConn::Memcached(c, _) => c.close(),
        }
    }
}

/// `engine::release_worker` on a worker thread: make sure another thread
/// runs the loop while this one is busy.
fn release(worker: &Weak<Worker>) {
    if RELEASED.with(|r| r.replace(true)) {
        return;
    }
    let Some(w) = worker.upgrade() else { return };
    // Connections this thread was about to serve go to the thread that
    // takes over.
    let rest: Vec<usize> = READY.with(|r| r.borrow_mut().drain(..).collect());
    if !rest.is_empty() {
        w.inbox.lock().attend.extend(rest);
        w.ring();
    }
    if w.free_loopers.fetch_sub(1, Ordering::AcqRel) == 1 {
        w.free_loopers.fetch_add(1, Ordering::AcqRel);
        let helper = w.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-helper", w.name))
            .spawn(move || helper.run(true));
        if let Err(e) = spawned {
            tracing::warn!("{}: no helper thread: {e}", w.name);
        }
    }
}

/// Adds connections idle past `timeout` (CONFIG `timeout`) to `ready`:
/// they close when served.
fn sweep_idle(server: &Server, st: &mut State, now: u64, ready: &mut Vec<usize>) {
    let timeout_secs = server.config.hot.timeout_secs.load(Ordering::Relaxed);
    if timeout_secs == 0 {
        return;
    }
    for (token, slot) in st.conns.iter_mut() {
        if let Slot::Here(conn) = slot {
            if conn.check_idle(now, timeout_secs) {
                ready.push(token);
            }
        }
    }
}

/// The CPU-time clock of the calling thread.
fn own_cpu_clock() -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self` names the calling thread, which is alive;
    // `pthread_getcpuclockid` writes one clockid_t to a valid pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    (rc == 0).then_some(clock)
}

/// A thread's time on a core plus its time waiting for one (ns), from
/// `/proc/self/task/<tid>/schedstat` (None where that is missing).
fn run_and_wait_ns(tid: libc::pid_t) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut fields = text.split_ascii_whitespace().map(|f| f.parse::<u64>().ok());
    Some(fields.next()?? + fields.next()??)
}

/// A clock's time in ns (None if it is gone: its thread ended).
fn clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one timespec to a valid pointer; an
    // invalid clock id is reported as an error, not undefined behaviour.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threads_cpu_clock_and_schedstat_count_its_work_and_are_readable_elsewhere() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let clock = own_cpu_clock().expect("a CPU clock");
            // SAFETY: gettid has no preconditions and cannot fail.
            let tid = unsafe { libc::gettid() };
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(30) {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            tx.send((clock, tid, x)).unwrap();
            let _ = done_rx.recv();
        });
        let (clock, tid, _) = rx.recv().unwrap();
        let used = clock_ns(clock).expect("readable from another thread");
        assert!(used >= 10_000_000, "{used} ns");
        // The spin either ran or waited for a core: 30 ms in all.
        let run_and_wait = run_and_wait_ns(tid).expect("this machine's /proc has schedstat");
        assert!(run_and_wait >= 25_000_000, "{run_and_wait} ns");
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
