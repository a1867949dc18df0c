//! A node's I/O: listeners, N worker threads running epoll loops
//! (`worker`), and the connections they serve, which read requests, hand
//! every complete command of the buffer to the engine, and write all
//! replies back in one write: `conn` for a Redis-engine node, `mc_conn` for
//! a memcached-engine node ([`start_memcached`]).
//!
//! ```text
//!   acceptor thread ──placement──▶ worker 1 (epoll loop): conns…
//!     (`balance`: as few workers  ▶ worker N: conns…
//!      as the load needs)
//!   each conn: read ▶ parse all ▶ engine::execute each ▶ one write
//!   cron thread: hz × per second: LRU clock, active expiry, INFO samples
//!   metrics thread (with --metrics-port): HTTP GET /metrics, see `metrics`
//! ```

mod balance;
mod conn;
mod mc_conn;
mod metrics;
mod repl_link;
mod replica_feed;
mod tls;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use engine::memcached::{McSettings, Memcached};
use engine::{Config, Server};
use tokio::net::TcpListener;

/// A running node (for tests and the binary).
pub struct Node {
    pub server: Arc<Server>,
    /// The plain listeners' addresses.
    pub addrs: Vec<SocketAddr>,
    /// The TLS listeners' addresses (`tls-port`).
    pub tls_addrs: Vec<SocketAddr>,
    /// The memcached engine of a `--engine memcached` node.
    pub memcached: Option<Arc<Memcached>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Serves the node's Prometheus page (`GET /metrics`) on `port` of the
    /// node's bind addresses, on a thread of its own that ends with the node.
    /// Returns the addresses bound (`port` 0 picks a free one).
    pub fn serve_metrics(&mut self, port: u16) -> Result<Vec<SocketAddr>, StartError> {
        let binds = bind_list(&self.server.config.get("bind"));
        let source = match &self.memcached {
            Some(mc) => metrics::Source::Memcached(mc.clone()),
            None => metrics::Source::Redis(self.server.clone()),
        };
        let (addrs, thread) = metrics::start(source, self.server.clone(), &binds, port)?;
        self.threads.push(thread);
        Ok(addrs)
    }

    /// Blocks until the node has shut down (SHUTDOWN, SIGTERM, SIGINT). Once
    /// shutdown is requested, threads get `shutdown-timeout` seconds to
    /// finish; a thread stuck in a long command does not keep the process
    /// alive past that.
    pub fn wait(self) {
        while !self.server.shutdown.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let grace =
            Duration::from_secs(self.server.config.get_i64("shutdown-timeout").max(1) as u64);
        let deadline = std::time::Instant::now() + grace;
        for t in self.threads {
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("threads still busy after {grace:?}: exiting anyway");
                return;
            }
        }
    }
}

/// Errors starting a node.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which protocol a node's connections speak.
#[derive(Clone)]
pub(crate) enum Protocol {
    Redis,
    Memcached(Arc<Memcached>),
}

/// Starts a node with `config`: binds, spawns workers, acceptor and cron.
pub fn start(config: Config) -> Result<Node, StartError> {
    start_node(config, None)
}

/// Starts a memcached-engine node: the same workers, acceptor and cron as a Redis node
/// (`config` gives port, bind and threads), connections served by `mc_conn`.
pub fn start_memcached(config: Config, settings: McSettings) -> Result<Node, StartError> {
    start_node(config, Some(settings))
}

fn start_node(config: Config, memcached: Option<McSettings>) -> Result<Node, StartError> {
    let mut threads_n = config.get_i64("io-threads");
    if threads_n <= 0 {
        threads_n = std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1);
        config
            .set_startup("io-threads", threads_n.to_string().as_bytes())
            .map_err(StartError)?;
    }
    let port = config.get_i64("port") as u16;
    let binds = bind_list(&config.get("bind"));
    let server = Server::new(config);
    let protocol = match memcached {
        Some(settings) => Protocol::Memcached(Memcached::new(server.clone(), settings)),
        None => Protocol::Redis,
    };
    let redis_engine = matches!(protocol, Protocol::Redis);
    if redis_engine {
        server.load_acl_file().map_err(StartError)?;
        // `replicaof host port` in the configuration: follow from the
        // start (the link starts with the other threads, after the load).
        let replicaof = server.config.get("replicaof");
        let mut words = replicaof.split_whitespace();
        if let (Some(host), Some(port)) = (words.next(), words.next()) {
            let port = port
                .parse::<u16>()
                .map_err(|_| StartError(format!("replicaof: invalid port {port}")))?;
            engine::replication::follow(&server, host.to_string(), port);
        }
        // The dataset is in memory before the first client connects: from
        // the AOF when it is on (as Redis: the RDB file is then ignored).
        if server.config.get_bool("appendonly") {
            engine::aof::load_at_startup(&server).map_err(StartError)?;
        } else {
            engine::persistence::load_file(&server).map_err(StartError)?;
        }
    }
    let memcached = match &protocol {
        Protocol::Memcached(mc) => {
            mc.start_background()
                .map_err(|e| StartError(format!("thread: {e}")))?;
            Some(mc.clone())
        }
        Protocol::Redis => None,
    };

    // TLS settings first: a node told to serve TLS does not start without.
    let tls = Arc::new(tls::TlsContext::default());
    let tls_port = server.config.get_i64("tls-port") as u16;
    if tls_port != 0 {
        tls.reload(&server.config)
            .map_err(|e| StartError(format!("Failed to configure TLS: {e}")))?;
    }
    // Bind synchronously so errors surface before we report success. Port
    // 0 with a TLS port means TLS only (as in Redis).
    let backlog = server.config.get_i64("tcp-backlog") as i32;
    let std_listeners = if port == 0 && tls_port != 0 {
        Vec::new()
    } else {
        bind_all(&binds, port, backlog).map_err(StartError)?
    };
    let tls_listeners = if tls_port != 0 {
        bind_all(&binds, tls_port, backlog).map_err(StartError)?
    } else {
        Vec::new()
    };
    let local_addrs = |ls: &[std::net::TcpListener]| -> Vec<SocketAddr> {
        ls.iter().filter_map(|l| l.local_addr().ok()).collect()
    };
    let addrs = local_addrs(&std_listeners);
    let tls_addrs = local_addrs(&tls_listeners);
    if let Some(a) = addrs.first() {
        server.tcp_port.store(a.port() as usize, Ordering::Relaxed);
    }

    // CONFIG SET port/bind/tls-port: listen on the new addresses first,
    // and only then hand them to the acceptor (which drops the old ones); a
    // failure leaves everything as it was. A `tls-*` change rebuilds the
    // TLS settings (certificates are read again) or is refused.
    let (rebind_tx, rebind_rx) = tokio::sync::mpsc::unbounded_channel();
    let weak = Arc::downgrade(&server);
    let tls_settings = tls.clone();
    server
        .config
        .set_apply_hook(Box::new(move |cfg, name, _value| {
            let tls_port = cfg.get_i64("tls-port") as u16;
            if tls::is_tls_param(name) || (name == "tls-port" && tls_port != 0) {
                if tls_port == 0 && !cfg.get_bool("tls-replication") {
                    return Ok(());
                }
                tls_settings
                    .reload(cfg)
                    .map_err(|e| format!("Unable to update TLS configuration: {e}"))?;
            }
            let listen_tls = match name {
                "port" => false,
                "tls-port" => true,
                "bind" => {
                    if tls_port != 0 {
                        rebind(cfg, true, tls_port, &rebind_tx)?;
                    }
                    false
                }
                _ => return Ok(()),
            };
            let port = if listen_tls {
                tls_port
            } else {
                cfg.get_i64("port") as u16
            };
            let addr = rebind(cfg, listen_tls, port, &rebind_tx)?;
            if let (Some(srv), Some(addr), false) = (weak.upgrade(), addr, listen_tls) {
                srv.tcp_port.store(addr.port() as usize, Ordering::Relaxed);
            }
            Ok(())
        }));

    let mut threads = Vec::new();
    let mut workers = Vec::new();
    for i in 0..threads_n {
        let (worker, thread) = worker::Worker::start(
            server.clone(),
            protocol.clone(),
            tls.clone(),
            format!("worker-{i}"),
        )
        .map_err(|e| StartError(format!("worker: {e}")))?;
        workers.push(worker);
        threads.push(thread);
    }

    let acceptor_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError(format!("runtime: {e}")))?;
    let srv = server.clone();
    let mc = memcached.clone();
    threads.push(
        std::thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || {
                acceptor_rt.block_on(accept_loop(
                    srv,
                    mc,
                    workers,
                    std_listeners,
                    tls_listeners,
                    rebind_rx,
                ))
            })
            .map_err(|e| StartError(format!("thread: {e}")))?,
    );

    if redis_engine {
        threads.push(
            repl_link::start(server.clone()).map_err(|e| StartError(format!("thread: {e}")))?,
        );
    }

    let srv = server.clone();
    threads.push(
        std::thread::Builder::new()
            .name("cron".into())
            .spawn(move || {
                let mut last_save_check = std::time::Instant::now();
                while !srv.shutdown.load(Ordering::Acquire) {
                    srv.cron();
                    if redis_engine && last_save_check.elapsed() >= Duration::from_secs(1) {
                        last_save_check = std::time::Instant::now();
                        engine::persistence::cron(&srv);
                        engine::aof::cron(&srv);
                    }
                    let hz = srv.config.hot.hz.load(Ordering::Relaxed).max(1);
                    std::thread::sleep(Duration::from_millis(1000 / hz));
                }
            })
            .map_err(|e| StartError(format!("thread: {e}")))?,
    );

    Ok(Node {
        server,
        addrs,
        tls_addrs,
        memcached,
        threads,
    })
}

/// The addresses of a `bind` value ("127.0.0.1 -::1": a leading '-' marks an
/// optional address in Redis; we bind it like the others).
fn bind_list(bind: &str) -> Vec<String> {
    bind.split_whitespace()
        .map(|s| s.trim_start_matches('-').to_string())
        .collect()
}

/// Binds every address on `port` (all or nothing), listening with
/// `backlog` pending connections (`tcp-backlog`; the kernel caps it at
/// `net.core.somaxconn`).
fn bind_all(
    binds: &[String],
    port: u16,
    backlog: i32,
) -> Result<Vec<std::net::TcpListener>, String> {
    let mut out = Vec::new();
    for b in binds {
        let text = if b.contains(':') {
            format!("[{b}]:{port}")
        } else {
            format!("{b}:{port}")
        };
        let addr: SocketAddr = text
            .parse()
            .map_err(|e| format!("invalid bind address '{b}': {e}"))?;
        let fail = |e: std::io::Error| format!("could not bind {addr}: {e}");
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .map_err(fail)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true).map_err(fail)?;
        }
        socket.set_reuse_address(true).map_err(fail)?;
        socket.bind(&addr.into()).map_err(fail)?;
        socket.listen(backlog.max(1)).map_err(fail)?;
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("listener setup failed: {e}"))?;
        out.push(socket.into());
    }
    Ok(out)
}

/// Listens on `port` of the `bind` addresses and hands the listeners to the
/// acceptor (`tls`: a TLS port; port 0 closes that kind of listener).
/// Returns the first address bound.
fn rebind(cfg: &Config, tls: bool, port: u16, tx: &Rebind) -> Result<Option<SocketAddr>, String> {
    let listeners = if tls && port == 0 {
        Vec::new()
    } else {
        let binds = bind_list(&cfg.get("bind"));
        let backlog = cfg.get_i64("tcp-backlog") as i32;
        bind_all(&binds, port, backlog)
            .map_err(|e| format!("Unable to listen on this port: {e}"))?
    };
    let first = listeners.first().and_then(|l| l.local_addr().ok());
    tx.send((tls, listeners))
        .map_err(|_| "the acceptor is gone".to_string())?;
    Ok(first)
}

/// New listeners for the acceptor: (TLS port, listeners).
type Rebind = tokio::sync::mpsc::UnboundedSender<(bool, Vec<std::net::TcpListener>)>;

/// An accepted connection: (socket, peer, came through a TLS port).
type Accepted = (tokio::net::TcpStream, SocketAddr, bool);

/// Accepts on `listeners` until the generation changes (a rebind), handing
/// connections to `tx`.
fn spawn_listeners(
    listeners: Vec<std::net::TcpListener>,
    tls: bool,
    tx: &tokio::sync::mpsc::Sender<Accepted>,
    generation: &tokio::sync::watch::Sender<u64>,
) {
    for l in listeners {
        let Ok(l) = TcpListener::from_std(l) else {
            continue;
        };
        let tx = tx.clone();
        let mut gen_rx = generation.subscribe();
        gen_rx.mark_unchanged();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = l.accept() => match r {
                        Ok((stream, peer)) => {
                            if tx.send((stream, peer, tls)).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    },
                    _ = gen_rx.changed() => break,
                }
            }
        });
    }
}

async fn accept_loop(
    server: Arc<Server>,
    memcached: Option<Arc<Memcached>>,
    workers: Vec<Arc<worker::Worker>>,
    listeners: Vec<std::net::TcpListener>,
    tls_listeners: Vec<std::net::TcpListener>,
    mut rebind: tokio::sync::mpsc::UnboundedReceiver<(bool, Vec<std::net::TcpListener>)>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    // One generation per kind of port: a rebind ends that kind's accepts.
    let (plain_generation, _) = tokio::sync::watch::channel(0u64);
    let (tls_generation, _) = tokio::sync::watch::channel(0u64);
    spawn_listeners(listeners, false, &tx, &plain_generation);
    spawn_listeners(tls_listeners, true, &tx, &tls_generation);
    let redis_engine = memcached.is_none();
    // With `worker-placement elastic`, connections go to as few workers as
    // their load needs (see `balance`); otherwise round robin. CONFIG SET
    // switches it at the next look.
    let elastic_now = || server.config.get("worker-placement") == "elastic";
    // Requests served so far: a trial worker must raise their rate.
    let work = || match &memcached {
        Some(mc) => mc.key_commands(),
        None => server.stats.commands_processed.get(),
    };
    let mut balancer = balance::Balancer::new(workers.len(), elastic_now());
    server
        .active_workers
        .store(balancer.active(), Ordering::Relaxed);
    let mut looks = tokio::time::interval(balance::BALANCE_EVERY);
    looks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_look = std::time::Instant::now();
    let srv = server.clone();
    let signals = async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("received SIGTERM, shutting down"),
            _ = int.recv() => tracing::info!("received SIGINT, shutting down"),
        }
        // As Redis: with save points configured, save before exiting (a
        // failure is logged; a signal still stops the server).
        if redis_engine {
            let _ = engine::persistence::save_for_shutdown(&srv, false);
        }
        srv.request_shutdown();
    };
    tokio::pin!(signals);
    loop {
        if server.shutdown.load(Ordering::Acquire) {
            break;
        }
        let shutdown = server.shutdown_notify.notified();
        tokio::select! {
            conn = rx.recv() => {
                let Some((stream, peer, tls)) = conn else { break };
                let worker = &workers[balancer.place()];
                // Ids are given in accept order, as Redis does.
                let id = if redis_engine { server.clients.next_id() } else { 0 };
                if let Ok(stream) = stream.into_std() {
                    worker.hand(stream, peer, id, tls);
                }
            }
            _ = shutdown => break,
            _ = &mut signals => {}
            _ = looks.tick() => {
                balancer.set_elastic(elastic_now());
                let busy: Vec<Option<u64>> = workers.iter().map(|w| w.busy_ns()).collect();
                let elapsed = last_look.elapsed();
                last_look = std::time::Instant::now();
                if let Some(m) = balancer.observe(&busy, work(), elapsed) {
                    tracing::debug!(
                        "connections move from worker-{} ({} workers take new ones)",
                        m.from,
                        balancer.active()
                    );
                    let to = m.to.iter().map(|&i| workers[i].clone()).collect();
                    workers[m.from].emigrate(to, m.every);
                }
                server
                    .active_workers
                    .store(balancer.active(), Ordering::Relaxed);
            }
            Some((tls, new)) = rebind.recv() => {
                let generation = if tls { &tls_generation } else { &plain_generation };
                generation.send_modify(|g| *g += 1);
                spawn_listeners(new, tls, &tx, generation);
            }
        }
    }
}
