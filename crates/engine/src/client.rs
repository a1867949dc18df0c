//! Client (connection) state: the part only the connection uses, and the
//! part other connections see through CLIENT LIST / KILL / PAUSE.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;
use resp::Protocol;

/// CLIENT REPLY mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
}

/// Client names and library info, set rarely.
#[derive(Debug, Default, Clone)]
pub struct ClientNames {
    pub name: Option<Vec<u8>>,
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    /// The user it is authenticated as (None: `default`).
    pub user: Option<Vec<u8>>,
}

impl ClientNames {
    pub fn user(&self) -> &[u8] {
        self.user.as_deref().unwrap_or(b"default")
    }
}

/// [`ClientShared::tracking`] bits: tracking is on; its REDIRECT client
/// went away; BCAST mode.
pub const TRACKING_ON: u8 = 1;
pub const TRACKING_BROKEN: u8 = 2;
pub const TRACKING_BCAST: u8 = 4;

/// [`ClientShared::link`]: an ordinary client, a replica, our primary.
pub const LINK_NONE: u8 = 0;
pub const LINK_REPLICA: u8 = 1;
pub const LINK_PRIMARY: u8 = 2;

/// What other connections may read or change about a client.
pub struct ClientShared {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created_ms: u64,
    pub names: Mutex<ClientNames>,
    pub db: AtomicUsize,
    pub last_interaction_ms: AtomicU64,
    /// Name of the last command ("client|list"), for CLIENT LIST's `cmd=`.
    pub last_cmd: Mutex<&'static str>,
    pub resp3: AtomicBool,
    pub monitor: AtomicBool,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// Bytes waiting in the query buffer / output buffer (for CLIENT LIST and INFO).
    pub qbuf: AtomicUsize,
    pub omem: AtomicUsize,
    /// Total memory of the connection's buffers.
    pub tot_mem: AtomicUsize,
    /// Set by CLIENT KILL; the connection closes at its next wake-up.
    pub killed: AtomicBool,
    /// A replica this node feeds, or the link to our primary (CLIENT LIST
    /// flags S and M, CLIENT KILL TYPE): one of the `LINK_*` values.
    pub link: std::sync::atomic::AtomicU8,
    /// A write that is not propagated is running (see `propagate`).
    pub unpropagated_write: AtomicBool,
    /// Blocked in a blocking command since this time (ms); 0 = not blocked.
    pub blocked_since: AtomicI64,
    /// How other threads get the connection's attention (kill, unblock, a
    /// blocked key written, pushes queued): set by the connection's worker.
    waker: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// CLIENT UNBLOCK request: 1 = timeout, 2 = error.
    pub unblock: AtomicUsize,
    /// Commands queued in MULTI (CLIENT LIST's `multi=`); -1 outside MULTI.
    pub multi: AtomicI64,
    /// Subscriptions: channels, patterns, shard channels (CLIENT LIST).
    pub sub: AtomicUsize,
    pub psub: AtomicUsize,
    pub ssub: AtomicUsize,
    /// Bytes of pub/sub messages queued for this client and not yet written
    /// (checked against `client-output-buffer-limit pubsub`).
    pub push_pending: AtomicUsize,
    /// Since when (ms) the queued bytes exceed the soft limit; 0 = not over.
    pub push_soft_since: AtomicU64,
    /// CLIENT TRACKING state for CLIENT LIST: bits of [`TRACKING_ON`],
    /// [`TRACKING_BROKEN`], [`TRACKING_BCAST`]; and the REDIRECT id.
    pub tracking: std::sync::atomic::AtomicU8,
    pub tracking_redirect: AtomicU64,
    /// Output for this connection from other clients (pub/sub messages,
    /// invalidations, MONITOR lines), written by its worker ahead of its
    /// next replies.
    pushes: Mutex<Vec<bytes::Bytes>>,
    /// A push woke the connection and it has not read the queue since
    /// (further pushes need no wake-up).
    push_rung: AtomicBool,
}

impl ClientShared {
    /// In RESP2 subscribed mode (any subscription)?
    pub fn in_pubsub_mode(&self) -> bool {
        self.sub.load(Ordering::Relaxed)
            + self.psub.load(Ordering::Relaxed)
            + self.ssub.load(Ordering::Relaxed)
            > 0
    }

    pub fn new(id: u64, addr: String, laddr: String, fd: i32, now_ms: u64) -> Self {
        ClientShared {
            id,
            addr,
            laddr,
            fd,
            created_ms: now_ms,
            names: Mutex::new(ClientNames::default()),
            db: AtomicUsize::new(0),
            last_interaction_ms: AtomicU64::new(now_ms),
            last_cmd: Mutex::new("NULL"),
            resp3: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            tot_mem: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            link: std::sync::atomic::AtomicU8::new(LINK_NONE),
            unpropagated_write: AtomicBool::new(false),
            blocked_since: AtomicI64::new(0),
            waker: std::sync::OnceLock::new(),
            unblock: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            ssub: AtomicUsize::new(0),
            push_pending: AtomicUsize::new(0),
            push_soft_since: AtomicU64::new(0),
            pushes: Mutex::new(Vec::new()),
            push_rung: AtomicBool::new(false),
            tracking: std::sync::atomic::AtomicU8::new(0),
            tracking_redirect: AtomicU64::new(0),
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.wake();
    }

    /// Sets how [`wake`](Self::wake) reaches the connection (once).
    pub fn set_waker(&self, waker: Box<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(waker);
    }

    /// Asks the connection's worker to look at it again.
    pub fn wake(&self) {
        if let Some(w) = self.waker.get() {
            w();
        }
    }

    /// Queues output for the connection and wakes it. The bytes count in
    /// `push_pending` until the connection has written them.
    pub fn push(&self, bytes: bytes::Bytes) {
        self.push_pending.fetch_add(bytes.len(), Ordering::AcqRel);
        self.pushes.lock().push(bytes);
        if !self.push_rung.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    /// Pushes may be queued (a push rang since the queue was last read)?
    pub fn has_pushes(&self) -> bool {
        self.push_rung.load(Ordering::Acquire)
    }

    /// Moves the queued pushes into `into` (in the order they were queued).
    pub fn take_pushes(&self, into: &mut Vec<bytes::Bytes>) {
        // Cleared first: a push queued from now on rings again.
        self.push_rung.store(false, Ordering::Release);
        let mut q = self.pushes.lock();
        if into.is_empty() {
            std::mem::swap(&mut *q, into);
        } else {
            into.append(&mut q);
        }
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }
}

/// Per-connection state, owned by the connection task.
pub struct Client {
    pub shared: Arc<ClientShared>,
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    /// The ACL user whose permissions apply (None: an internal client,
    /// such as the AOF loader's or a script's, which is not checked).
    pub user: Option<Arc<crate::acl::User>>,
    pub reply: ReplyMode,
    /// Close the connection once the replies so far are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// Set by MONITOR: the connection then only streams monitor output.
    pub monitor: bool,
    pub no_touch: bool,
    /// Set by a blocking command that found nothing: the connection waits
    /// for the keys, then runs the command again.
    pub blocked: Option<Blocked>,
    /// True while a woken blocked command runs again: if it must block again
    /// it keeps its place at the head of the queues.
    pub block_retry: bool,
    /// Commands queued since MULTI; None outside a transaction.
    pub multi: Option<crate::multi::Queued>,
    /// Keys this client WATCHes, by database.
    pub watched: Vec<(usize, Box<[u8]>)>,
    /// Set when a watched key changes (or a db holding one is flushed).
    pub watch_dirty: Arc<AtomicBool>,
    /// True while EXEC runs the queued commands (blocking commands then
    /// answer at once instead of blocking).
    pub in_exec: bool,
    /// The buffer the running command's arguments live in, when the
    /// connection handed it over (large arguments): values can adopt it.
    pub arg_buf: Option<bytes::Bytes>,
    /// Pub/sub subscriptions.
    pub subs: crate::pubsub::Subscriptions,
    /// Set by a handler whose whole output is pushes (subscription
    /// confirmations), which CLIENT REPLY OFF/SKIP does not suppress.
    pub output_is_push: bool,
    /// CLIENT TRACKING mode (None: off).
    pub tracking: Option<crate::tracking::Mode>,
    /// The client of a running script (its commands' replies go to Lua).
    pub in_script: bool,
    /// Replays a file (AOF): no key counts as expired (see `Ctx::lock`).
    pub loading: bool,
    /// The client the primary's stream runs as, on a replica.
    pub from_primary: bool,
    /// What REPLCONF said, for the PSYNC that may follow.
    pub replica_conf: Option<crate::replication::ReplicaRequest>,
    /// Set by PSYNC/SYNC: the connection is handed to replication.
    pub replica_handover: Option<Box<crate::replication::ReplicaRequest>>,
    /// The replication offset after this client's last write (WAIT), and
    /// the AOF's (WAITAOF).
    pub repl_offset: u64,
    pub aof_offset: u64,
    /// A blocked command runs again because its timeout passed (WAIT).
    pub block_timed_out: bool,
}

/// What a blocked client waits for.
pub struct Blocked {
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    /// Absolute deadline (ms since the epoch); None = forever.
    pub deadline_ms: Option<u64>,
    /// The reply on timeout: a null array (BLPOP...) or a null bulk (BLMOVE...).
    pub timeout_null_array: bool,
    /// On timeout the command runs again (with `block_timed_out`) and
    /// gives the reply itself (WAIT).
    pub rerun_on_timeout: bool,
    pub waiter: Arc<keyspace::Waiter>,
    /// Set by the waiter's wake-up (a key it waits on was written).
    pub woken: Arc<AtomicBool>,
    /// The command line to run on wake-up when it differs from the one
    /// sent (XREAD's `$` resolved to the id it meant at the first run).
    pub rerun_args: Option<Vec<Vec<u8>>>,
}

impl Client {
    /// A network connection's client: the default user's, authenticated
    /// when that user needs no password.
    pub fn for_connection(server: &crate::Server, shared: Arc<ClientShared>) -> Self {
        let mut client = Client::new(shared, server.acl.default_open());
        client.user = Some(server.acl.default_user());
        client
    }

    /// Makes the client `user`'s (AUTH, HELLO AUTH).
    pub fn log_in(&mut self, user: Arc<crate::acl::User>) {
        self.shared.names.lock().user = (user.name != b"default").then(|| user.name.clone());
        self.user = Some(user);
        self.authenticated = true;
    }

    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Self {
        Client {
            shared,
            db: 0,
            proto: Protocol::Resp2,
            authenticated,
            user: None,
            reply: ReplyMode::On,
            close_after_reply: false,
            monitor: false,
            no_touch: false,
            blocked: None,
            block_retry: false,
            multi: None,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            in_exec: false,
            loading: false,
            from_primary: false,
            replica_conf: None,
            replica_handover: None,
            repl_offset: 0,
            aof_offset: 0,
            block_timed_out: false,
            arg_buf: None,
            subs: Default::default(),
            output_is_push: false,
            tracking: None,
            in_script: false,
        }
    }

    pub fn id(&self) -> u64 {
        self.shared.id
    }

    pub fn set_db(&mut self, db: usize) {
        self.db = db;
        self.shared.db.store(db, Ordering::Relaxed);
    }
}

/// Every connected client, by id.
#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    next_id: AtomicU64,
}

impl ClientRegistry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, c: Arc<ClientShared>) {
        self.clients.lock().insert(c.id, c);
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of all clients, sorted by id.
    pub fn all(&self) -> Vec<Arc<ClientShared>> {
        let mut v: Vec<_> = self.clients.lock().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientShared>> {
        self.clients.lock().get(&id).cloned()
    }
}
