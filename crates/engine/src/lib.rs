//! Command execution for the Redis engine.
//!
//! A connection hands a parsed command to [`execute`]; it is looked up in the
//! command table (from the `commands` crate), checked (arity, auth, pause) and
//! run by its handler. Handlers live in one module per command family
//! (`string.rs`, `generic.rs`, ...); each receives a [`Ctx`] with the shared
//! [`Server`], the client's state and a RESP2/RESP3-aware reply writer, and
//! never touches a socket, so `run(&["SET","k","v"])` tests work in-process.

pub mod acl;
pub mod aof;
pub mod args;
mod bitfield;
mod bitmap;
mod blocking;
pub mod client;
mod collections;
pub mod config;
mod connection;
mod digest;
mod dispatch;
pub mod error;
mod evict;
mod functions;
mod generic;
mod geo;
mod hash;
mod hyperloglog;
mod info;
mod introspection;
mod latency;
mod lazyfree;
mod list;
mod longdouble;
mod lua_libs;
pub mod memcached;
pub mod memory;
pub mod metrics;
pub mod multi;
pub mod notify;
pub mod persistence;
pub mod propagate;
pub mod pubsub;
pub mod replication;
pub mod scripting;
mod server;
mod set;
mod sort;
mod stream;
mod string;
mod strtod;
#[cfg(test)]
mod test_support;
pub mod tracking;
mod zset;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

pub use client::{Client, ClientRegistry, ClientShared, ReplyMode};
pub use config::Config;
pub use dispatch::{execute, execute_timed, lookup, CommandEntry, Handler, Outcome};
pub use error::{CmdError, CmdResult};
use keyspace::counter::Counter;
use keyspace::Keyspace;
use resp::ReplyWriter;

/// The version of Redis whose behaviour we match (reported as `redis_version`).
pub const REDIS_VERSION: &str = "7.2.4";
/// Our own version.
pub const FERROCACHE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Server-wide counters for INFO stats (striped: bumped from every worker).
#[derive(Default)]
pub struct Stats {
    pub commands_processed: Counter,
    pub connections_received: Counter,
    pub rejected_connections: Counter,
    pub evicted_keys: Counter,
    pub net_input_bytes: Counter,
    pub net_output_bytes: Counter,
    pub error_replies: Counter,
    pub unexpected_error_replies: Counter,
    pub total_reads: Counter,
    pub total_writes: Counter,
    pub client_query_buffer_limit_disconnections: Counter,
    pub client_output_buffer_limit_disconnections: Counter,
}

/// One SLOWLOG entry.
#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub time: u64,
    pub duration_us: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

/// The slow log (newest first).
#[derive(Default)]
pub struct SlowLog {
    pub entries: std::collections::VecDeque<SlowEntry>,
    pub next_id: u64,
}

/// Whether a command writes or may replicate something (Redis's CMD_WRITE
/// or CMD_MAY_REPLICATE): what CLIENT PAUSE WRITE holds and read-only
/// scripts refuse. COMMAND INFO does not show may-replicate, so the
/// commands that carry it (scripts aside, judged by their flags) are named.
pub(crate) fn may_replicate(spec: &commands::CommandSpec) -> bool {
    use commands::flag;
    spec.flags & (flag::WRITE | flag::MAY_REPLICATE) != 0
        || matches!(spec.name, "publish" | "spublish" | "pfcount")
}

/// CLIENT PAUSE state.
#[derive(Default)]
pub struct PauseState {
    /// 0 = not paused; otherwise ms since the epoch when the pause ends.
    pub until_ms: AtomicU64,
    /// True: only writes are paused (CLIENT PAUSE ... WRITE).
    pub write_only: AtomicBool,
}

impl PauseState {
    /// Does a command with these flags have to wait? `writes` says that
    /// it writes beyond its flags (an EXEC carrying writes, a script that
    /// may write). Returns the ms to wait.
    pub fn wait_ms(&self, spec: &commands::CommandSpec, now_ms: u64, writes: bool) -> Option<u64> {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == 0 || until <= now_ms {
            return None;
        }
        let is_write = writes || may_replicate(spec);
        if self.write_only.load(Ordering::Acquire) && !is_write {
            return None;
        }
        Some(until - now_ms)
    }

    /// Pauses clients until `until` (ms): all commands, or only writes. A
    /// new pause never shortens or weakens one in force (Redis semantics).
    /// Keys do not expire meanwhile.
    pub fn pause(&self, now_ms: u64, until: u64, write_only: bool) {
        let current = self.until_ms.load(Ordering::Acquire);
        let active = current > now_ms;
        let was_write_only = self.write_only.load(Ordering::Acquire);
        self.write_only
            .store(write_only && (!active || was_write_only), Ordering::Release);
        self.until_ms.store(until.max(current), Ordering::Release);
        keyspace::pause_expiry_until(until.max(current));
    }

    /// Ends the pause; the clients it holds retry at once.
    pub fn unpause(&self, clients: &ClientRegistry) {
        self.until_ms.store(0, Ordering::Release);
        keyspace::pause_expiry_until(0);
        // Clients held by the pause wait as blocked: let them retry now.
        for c in clients.all() {
            if c.blocked_since.load(Ordering::Acquire) != 0 {
                c.wake();
            }
        }
    }

    pub fn is_paused(&self, now_ms: u64) -> bool {
        let until = self.until_ms.load(Ordering::Acquire);
        until != 0 && until > now_ms
    }
}

/// A MONITOR subscriber: receives formatted lines as pushes.
pub struct Monitor {
    pub client_id: u64,
    pub shared: Arc<ClientShared>,
}

thread_local! {
    static RELEASE_WORKER: std::cell::RefCell<Option<Box<dyn Fn()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets what [`release_worker`] does on this thread (a worker's event loop
/// sets it; elsewhere it does nothing).
pub fn set_release_worker(release: Option<Box<dyn Fn()>>) {
    RELEASE_WORKER.with(|r| *r.borrow_mut() = release);
}

/// Called before this thread may stay busy or blocked for long (a script
/// past its busy threshold, a long lock wait): the worker's other
/// connections are then served by another thread meanwhile, so they are
/// not stalled behind it.
pub fn release_worker() {
    RELEASE_WORKER.with(|r| {
        if let Some(release) = &*r.borrow() {
            release();
        }
    });
}

/// Bytes the process holds (INFO used_memory, the maxmemory check): the
/// counting allocator's figure, or jemalloc's when it is not installed.
pub fn used_memory() -> usize {
    memory::used_memory().unwrap_or_else(|| info::allocator_stats().0 as usize)
}

/// The shared state of one Redis-engine node.
pub struct Server {
    pub keyspace: Keyspace,
    pub config: Config,
    pub clients: ClientRegistry,
    pub stats: Stats,
    pub slowlog: Mutex<SlowLog>,
    pub errorstats: Mutex<std::collections::BTreeMap<String, u64>>,
    pub pause: PauseState,
    pub monitors: Mutex<Vec<Monitor>>,
    pub pubsub: pubsub::Registry,
    pub tracking: tracking::Tracking,
    pub(crate) scripts: scripting::Scripts,
    pub(crate) functions: functions::Libraries,
    pub script_state: scripting::ScriptState,
    pub monitor_count: AtomicUsize,
    pub started: Instant,
    pub start_time_ms: u64,
    pub lastsave: AtomicU64,
    pub persistence: persistence::State,
    /// The stream of changes the AOF records (see `propagate`).
    pub propagation: Arc<propagate::Propagation>,
    pub aof: aof::Aof,
    pub replication: replication::Replication,
    pub active_expire_enabled: AtomicBool,
    pub shutdown: AtomicBool,
    pub shutdown_notify: tokio::sync::Notify,
    pub run_id: String,
    pub tcp_port: AtomicUsize,
    pub executable: String,
    pub worker_threads: usize,
    /// Workers that take new connections now (the server crate's elastic
    /// placement; all of them with `worker-placement spread`).
    pub active_workers: AtomicUsize,
    pub(crate) commands: dispatch::CommandTable,
    /// Users and the ACL LOG.
    pub acl: acl::Acl,
    /// Allocator bytes at startup (INFO used_memory_startup) and the peak seen.
    pub startup_memory: AtomicU64,
    memory_peak: AtomicU64,
    samples: Mutex<Samples>,
    /// The latency monitor's events (LATENCY LATEST/HISTORY...).
    pub(crate) latency: latency::Monitor,
}

/// Rolling samples of counters for INFO's instantaneous_* fields.
#[derive(Default)]
struct Samples {
    /// (ms, commands, input bytes, output bytes), newest last, at most 16.
    points: std::collections::VecDeque<(u64, u64, u64, u64)>,
}

impl Server {
    pub fn new(config: Config) -> Arc<Server> {
        let databases = config.get_i64("databases").max(1) as usize;
        let threads = config.get_i64("io-threads");
        let run_id: String = (0..40)
            .map(|_| {
                let n = rand::random::<u8>() % 16;
                char::from_digit(n as u32, 16).unwrap_or('0')
            })
            .collect();
        let port = config.get_i64("port") as usize;
        keyspace::set_dispose_hook(lazyfree::dispose);
        keyspace::set_event_hook(|event, db, key| match event {
            keyspace::KeyEvent::Expired => notify::emit(notify::EXPIRED, "expired", db, key),
            keyspace::KeyEvent::New => notify::emit(notify::NEW, "new", db, key),
        });
        keyspace::set_invalidation_hook(tracking::on_invalidated);
        keyspace::set_long_wait_hook(release_worker);
        let keyspace = Keyspace::new(databases);
        let propagation = Arc::new(propagate::Propagation::default());
        propagation
            .timestamps
            .store(config.get_bool("aof-timestamp-enabled"), Ordering::Relaxed);
        let sink = propagation.clone();
        keyspace.set_expiry_sink(Box::new(move |db, key| sink.effect(db, &[b"DEL", key])));
        let mut commands = dispatch::CommandTable::build();
        for (from, to) in config.renames.lock().iter() {
            if let Err(e) = commands.rename(from, to) {
                tracing::warn!("{e}");
            }
        }
        let acl = acl::Acl::new(&commands);
        acl.set_requirepass(&config.get_bytes("requirepass"), &commands);
        // Checked when the file was read.
        let _ = acl.load_declarations(&config.users.lock(), &commands);
        Arc::new(Server {
            keyspace,
            config,
            clients: ClientRegistry::default(),
            stats: Stats::default(),
            slowlog: Mutex::new(SlowLog::default()),
            errorstats: Mutex::new(Default::default()),
            pause: PauseState::default(),
            monitors: Mutex::new(Vec::new()),
            pubsub: Default::default(),
            tracking: Default::default(),
            scripts: Default::default(),
            functions: Default::default(),
            script_state: Default::default(),
            monitor_count: AtomicUsize::new(0),
            started: Instant::now(),
            start_time_ms: now_ms(),
            lastsave: AtomicU64::new(now_ms() / 1000),
            persistence: persistence::State::default(),
            propagation,
            aof: aof::Aof::default(),
            replication: Default::default(),
            active_expire_enabled: AtomicBool::new(true),
            shutdown: AtomicBool::new(false),
            shutdown_notify: tokio::sync::Notify::new(),
            run_id,
            tcp_port: AtomicUsize::new(port),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            worker_threads: threads.max(1) as usize,
            active_workers: AtomicUsize::new(threads.max(1) as usize),
            commands,
            acl,
            startup_memory: AtomicU64::new(used_memory() as u64),
            memory_peak: AtomicU64::new(0),
            samples: Mutex::new(Samples::default()),
            latency: Default::default(),
        })
    }

    /// Loads `aclfile` at startup, if set (users declared both in the
    /// configuration and in an ACL file are refused, as by Redis).
    pub fn load_acl_file(&self) -> Result<(), String> {
        let path = self.config.get("aclfile");
        if path.is_empty() {
            return Ok(());
        }
        if !self.config.users.lock().is_empty() {
            return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
        }
        self.acl.load_file(&path, &self.commands)
    }

    /// Records `allocated` as a candidate peak; returns the peak.
    pub(crate) fn note_memory_peak(&self, allocated: u64) -> u64 {
        self.memory_peak
            .fetch_max(allocated, Ordering::Relaxed)
            .max(allocated)
    }

    /// (ops/sec, input kbps, output kbps) over the recent samples.
    pub(crate) fn instantaneous(&self) -> (u64, f64, f64) {
        let s = self.samples.lock();
        match (s.points.front(), s.points.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                let secs = (b.0 - a.0) as f64 / 1000.0;
                (
                    ((b.1 - a.1) as f64 / secs) as u64,
                    (b.2 - a.2) as f64 / secs / 1024.0,
                    (b.3 - a.3) as f64 / secs / 1024.0,
                )
            }
            _ => (0, 0.0, 0.0),
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        let st = &self.stats;
        let ks = &self.keyspace.stats;
        for c in [
            &st.commands_processed,
            &st.connections_received,
            &st.rejected_connections,
            &st.evicted_keys,
            &st.net_input_bytes,
            &st.net_output_bytes,
            &st.error_replies,
            &st.unexpected_error_replies,
            &st.total_reads,
            &st.total_writes,
            &st.client_query_buffer_limit_disconnections,
            &st.client_output_buffer_limit_disconnections,
            &ks.expired_keys,
            &ks.keyspace_hits,
            &ks.keyspace_misses,
            &ks.expire_cycle_cpu_us,
        ] {
            c.reset();
        }
        lazyfree::reset_freed();
        evict::reset_exceeded();
        for e in &self.commands.entries {
            e.stats.reset();
            e.latency.reset();
        }
        self.errorstats.lock().clear();
        self.memory_peak.store(0, Ordering::Relaxed);
        self.samples.lock().points.clear();
    }

    /// Asks the node to shut down (SHUTDOWN, signals).
    pub fn request_shutdown(&self) {
        // Everything acknowledged so far reaches the disk (even NOSAVE).
        aof::flush_for_shutdown(self);
        self.shutdown.store(true, Ordering::Release);
        self.shutdown_notify.notify_waiters();
        // Connections wait on their own wake-up only (no shared notifier on
        // the request path): close them one by one.
        for c in self.clients.all() {
            c.kill();
        }
    }

    /// Periodic work (called `hz` times a second): LRU clock, active expiry.
    pub fn cron(&self) {
        self.trim_tracking_table(now_ms());
        keyspace::set_lru_clock_ms(self.started.elapsed().as_millis() as u64);
        let now = now_ms();
        {
            let st = &self.stats;
            let mut s = self.samples.lock();
            s.points.push_back((
                now,
                st.commands_processed.get(),
                st.net_input_bytes.get(),
                st.net_output_bytes.get(),
            ));
            while s.points.len() > 16 {
                s.points.pop_front();
            }
        }
        // Memory freed by nothing else (say, after a burst of writes and
        // no command since) is still made.
        let limited = self.config.hot.maxmemory.load(Ordering::Relaxed) != 0;
        if limited
            && !self.pause.is_paused(now)
            && !self.replication.is_replica()
            && evict::make_room(self, now).1 > 0
        {
            notify::flush_background(self);
            tracking::flush(self, None, now);
        }
        replication::cron(self, now);
        if self.active_expire_enabled.load(Ordering::Relaxed)
            && !self.pause.is_paused(now)
            && !keyspace::expiry_by_primary()
        {
            let hz = self.config.hot.hz.load(Ordering::Relaxed).max(1);
            let effort = self.config.hot.active_expire_effort.load(Ordering::Relaxed);
            // Redis spends up to 25% of a core on active expiry (more with effort).
            let pct = 25 + 2 * effort.saturating_sub(1);
            let budget = std::time::Duration::from_micros(1_000_000 / hz * pct / 100);
            let t = Instant::now();
            self.keyspace.active_expire(now, budget);
            latency::sample_if_needed(self, "expire-cycle", t.elapsed().as_millis() as u64);
            notify::flush_background(self);
            tracking::flush(self, None, now);
            self.keyspace
                .stats
                .expire_cycle_cpu_us
                .add(t.elapsed().as_micros() as u64);
        }
    }

    /// Keeps the tracking table within `tracking-table-max-keys` (keys
    /// dropped are invalidated as if they had changed, NOLOOP or not).
    pub fn trim_tracking_table(&self, now: u64) {
        if self.tracking.clients() == 0 {
            return;
        }
        let max = self
            .config
            .hot
            .tracking_table_max_keys
            .load(Ordering::Relaxed) as usize;
        if max > 0 && self.keyspace.tracking_counts().0 > max {
            self.keyspace.trim_tracked(max);
            tracking::flush(self, None, now);
        }
    }

    /// Records an error reply in INFO errorstats.
    pub fn count_error(&self, err: &[u8]) {
        let code = err.split(|&c| c == b' ').next().unwrap_or(b"ERR");
        let code = String::from_utf8_lossy(code).into_owned();
        self.stats.error_replies.incr();
        *self.errorstats.lock().entry(code).or_insert(0) += 1;
    }
}

/// Everything a handler may use.
pub struct Ctx<'a> {
    pub server: &'a Arc<Server>,
    pub client: &'a mut Client,
    pub out: ReplyWriter<'a>,
    /// The command's clock, fixed for its whole execution (ms since the epoch).
    pub now_ms: u64,
    pub spec: &'static commands::CommandSpec,
}

impl<'a> Ctx<'a> {
    /// Locks the shards of `keys` for this command.
    pub fn lock<'k, I>(&self, keys: I) -> keyspace::Locked<'a>
    where
        I: IntoIterator<Item = &'k [u8]>,
    {
        let mut l = self.server.keyspace.lock(keys, self.expiry_clock());
        l.touch = !self.client.no_touch;
        l
    }

    /// The time keys' TTLs are judged by: the command's clock, or 0 (no
    /// key has expired) while a file replays.
    pub(crate) fn expiry_clock(&self) -> u64 {
        if self.client.loading {
            0
        } else {
            self.now_ms
        }
    }

    pub fn db(&self) -> usize {
        self.client.db
    }

    /// A string value for argument `arg`: a large argument that sits in a
    /// buffer the connection handed over is adopted without a copy.
    pub(crate) fn str_value(&self, arg: &[u8]) -> keyspace::StrValue {
        if let Some(buf) = &self.client.arg_buf {
            let start = buf.as_ptr() as usize;
            let at = arg.as_ptr() as usize;
            if !arg.is_empty() && at >= start && at + arg.len() <= start + buf.len() {
                return keyspace::StrValue::adopt(buf.slice_ref(arg));
            }
        }
        keyspace::StrValue::from_bytes(arg)
    }

    /// Blocks the client on `keys` (a blocking command found nothing). Must be
    /// called while `locked` still holds the keys' shards, so a concurrent
    /// write cannot slip between the check and the registration.
    pub(crate) fn block(
        &mut self,
        _locked: &keyspace::Locked,
        keys: &[&[u8]],
        timeout_ms: u64,
        timeout_null_array: bool,
    ) {
        // Inside EXEC a blocking command cannot wait: it times out at once.
        if self.client.in_exec {
            if timeout_null_array {
                self.out.null_array();
            } else {
                self.out.null();
            }
            return;
        }
        let woken = Arc::new(AtomicBool::new(false));
        let flag = woken.clone();
        let shared = self.client.shared.clone();
        let waiter = keyspace::Waiter::new(
            self.client.id(),
            Box::new(move || {
                flag.store(true, Ordering::Release);
                shared.wake();
            }),
        );
        let db = self.client.db;
        self.server.keyspace.ready.register(db, keys, &waiter);
        self.client.blocked = Some(client::Blocked {
            db,
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            deadline_ms: (timeout_ms > 0).then(|| self.now_ms + timeout_ms),
            timeout_null_array,
            rerun_on_timeout: false,
            waiter,
            woken,
            rerun_args: None,
        });
    }
}

/// Parses a blocking command's timeout (seconds, fractions allowed) into ms;
/// 0 means forever.
pub(crate) fn parse_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    let secs = args::parse_f64(arg)
        .filter(|v| v.is_finite())
        .ok_or_else(|| CmdError::new("ERR timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let ms = (secs * 1000.0).ceil();
    if ms > i64::MAX as f64 / 2.0 {
        return Err(CmdError::new("ERR timeout is out of range"));
    }
    Ok(ms as u64)
}
