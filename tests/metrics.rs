//! End-to-end tests of `--metrics-port`: the real binary, both engines, scraped
//! over plain HTTP/1.1 and parsed with a Prometheus text-format parser (the
//! `prometheus-parse` crate), with every line checked to be one the format
//! allows. Values must follow real activity: after known SETs and GETs the
//! managed-service names (CacheHits, GetTypeCmds, ...) and the exporter-style
//! names report exactly those counts.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_ferrocache, Proc};
use prometheus_parse::{LineInfo, Scrape, Value};

/// A node process (killed on drop) and its metrics endpoint, if it logged one.
struct Node {
    proc: Proc,
    metrics: Option<SocketAddr>,
}

impl std::ops::Deref for Node {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

/// Starts `ferrocache server <args>`, noting the metrics endpoint's address
/// when its log names one before the ready line.
fn start(args: &[&str]) -> Node {
    let (proc, log) = spawn_ferrocache(args, &[]);
    let marker = "metrics endpoint on http://";
    let metrics = log.iter().find_map(|line| {
        let at = line.find(marker)? + marker.len();
        let addr = line[at..].trim().trim_end_matches("/metrics");
        Some(addr.parse().expect("metrics address"))
    });
    Node { proc, metrics }
}

fn start_redis_node(extra: &[&str]) -> Node {
    let mut args = vec!["--port", "0", "--bind", "127.0.0.1", "--metrics-port", "0"];
    args.extend_from_slice(extra);
    let node = start(&args);
    assert!(node.metrics.is_some(), "no metrics endpoint logged");
    node
}

fn start_memcached_node() -> Node {
    let node = start(&[common::MEMCACHED_ENGINE, &["--metrics-port", "0"]].concat());
    assert!(node.metrics.is_some(), "no metrics endpoint logged");
    node
}

/// A response: status code, headers (lower-case names), body.
struct Http {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// One HTTP/1.1 request on a new connection (`Connection: close`, read to EOF).
fn http(addr: SocketAddr, method: &str, path: &str) -> Http {
    let mut s = TcpStream::connect(addr).expect("connect to metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Http {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A parsed scrape, with lookups by name and labels.
struct Metrics {
    scrape: Scrape,
}

impl Metrics {
    fn sample(&self, name: &str, labels: &[(&str, &str)]) -> &prometheus_parse::Sample {
        self.scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }

    /// The value of a counter.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.sample(name, labels).value {
            Value::Counter(v) => v,
            ref other => panic!("{name} is not a counter: {other:?}"),
        }
    }

    /// The value of a gauge.
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.sample(name, labels).value {
            Value::Gauge(v) => v,
            ref other => panic!("{name} is not a gauge: {other:?}"),
        }
    }
}

/// GET /metrics, checked for status, content type and format, and parsed.
fn scrape(node: &Node) -> Metrics {
    let addr = node.metrics.expect("metrics endpoint");
    let r = http(addr, "GET", "/metrics");
    assert_eq!(r.status, 200);
    let ct = r.headers.get("content-type").expect("content-type");
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    // The parser skips lines it does not understand: make sure there are none.
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    for line in r.body.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { metric_name, .. } => {
                assert!(helped.insert(metric_name.to_string()), "HELP twice: {line}");
            }
            LineInfo::Type { metric_name, .. } => {
                assert!(helped.contains(&metric_name), "TYPE before HELP: {line}");
                assert!(typed.insert(metric_name), "TYPE twice: {line}");
            }
            LineInfo::Sample { metric_name, .. } => {
                assert!(typed.contains(metric_name), "sample before TYPE: {line}");
            }
            LineInfo::Empty | LineInfo::Ignored => panic!("not an exposition line: {line:?}"),
        }
    }
    assert!(r.body.ends_with('\n'));
    let scrape =
        Scrape::parse(r.body.lines().map(|l| Ok(l.to_string()))).expect("prometheus text format");
    for s in &scrape.samples {
        assert!(
            matches!(s.value, Value::Counter(_) | Value::Gauge(_)),
            "{} has no counter/gauge type",
            s.metric
        );
        assert!(
            scrape.docs.contains_key(&s.metric),
            "{} has no HELP",
            s.metric
        );
    }
    Metrics { scrape }
}

/// The ports `pid` listens on (TCP, IPv4 and IPv6), from /proc.
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|p| {
            let p = p.to_string_lossy().into_owned();
            p.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for row in text.lines().skip(1) {
            let f: Vec<&str> = row.split_whitespace().collect();
            // local_address, st (0A = LISTEN), inode.
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                let port = f[1].rsplit(':').next().expect("port");
                ports.insert(u16::from_str_radix(port, 16).expect("hex port"));
            }
        }
    }
    ports
}

fn redis_client(node: &Node) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{}/", node.port))
        .expect("client")
        .get_connection()
        .expect("connect")
}

#[test]
fn redis_node_metrics_follow_commands() {
    let node = start_redis_node(&[]);
    let before = scrape(&node);
    assert_eq!(before.gauge("CurrItems", &[]), 0.0);
    assert_eq!(before.counter("CacheHits", &[]), 0.0);
    assert_eq!(before.gauge("CacheHitRate", &[]), 0.0);
    assert_eq!(before.gauge("redis_up", &[]), 1.0);
    assert_eq!(before.gauge("redis_db_keys", &[("db", "db0")]), 0.0);
    assert_eq!(before.gauge("DatabaseMemoryUsagePercentage", &[]), 0.0);

    let mut c = redis_client(&node);
    let after_connect = scrape(&node);
    for i in 0..10 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("value")
            .query(&mut c)
            .expect("SET");
    }
    // 4 hits, 3 misses.
    for key in ["k0", "k1", "k2", "k3", "x0", "x1", "x2"] {
        let _: Option<String> = redis::cmd("GET").arg(key).query(&mut c).expect("GET");
    }
    let _: i64 = redis::cmd("EXPIRE")
        .arg("k0")
        .arg(100)
        .query(&mut c)
        .expect("EXPIRE");
    let _: i64 = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .expect("HSET");
    let m = scrape(&node);
    let delta = |name: &str| m.counter(name, &[]) - after_connect.counter(name, &[]);

    assert_eq!(m.gauge("CurrItems", &[]), 11.0);
    assert_eq!(m.counter("CacheHits", &[]), 4.0);
    assert_eq!(m.counter("CacheMisses", &[]), 3.0);
    assert!((m.gauge("CacheHitRate", &[]) - 400.0 / 7.0).abs() < 1e-9);
    // Read-only: 7 GETs. Writes: 10 SETs, EXPIRE, HSET.
    assert_eq!(delta("GetTypeCmds"), 7.0);
    assert_eq!(delta("SetTypeCmds"), 12.0);
    assert_eq!(delta("StringBasedCmds"), 17.0);
    assert_eq!(delta("HashBasedCmds"), 1.0);
    assert_eq!(delta("KeyBasedCmds"), 1.0);
    assert_eq!(delta("ListBasedCmds"), 0.0);
    assert_eq!(m.counter("redis_commands_total", &[("cmd", "set")]), 10.0);
    assert_eq!(m.counter("redis_commands_total", &[("cmd", "get")]), 7.0);
    assert_eq!(m.counter("redis_commands_total", &[("cmd", "expire")]), 1.0);
    assert!(m.counter("redis_commands_duration_seconds_total", &[("cmd", "get")]) > 0.0);
    assert_eq!(m.gauge("redis_db_keys", &[("db", "db0")]), 11.0);
    assert_eq!(m.gauge("redis_db_keys_expiring", &[("db", "db0")]), 1.0);
    assert_eq!(m.counter("redis_keyspace_hits_total", &[]), 4.0);
    assert_eq!(m.counter("redis_keyspace_misses_total", &[]), 3.0);
    assert_eq!(delta("redis_commands_processed_total"), 19.0);

    // Connections: the client is open; the scrapes are not Redis clients.
    assert_eq!(m.gauge("CurrConnections", &[]), 1.0);
    assert_eq!(m.gauge("redis_connected_clients", &[]), 1.0);
    assert_eq!(m.counter("NewConnections", &[]), 1.0);
    assert_eq!(m.counter("redis_connections_received_total", &[]), 1.0);

    // Network counters move with the traffic and agree across the names.
    let net_in = m.counter("NetworkBytesIn", &[]);
    assert!(net_in > after_connect.counter("NetworkBytesIn", &[]));
    assert_eq!(net_in, m.counter("redis_net_input_bytes_total", &[]));
    assert!(m.counter("NetworkBytesOut", &[]) > 0.0);

    let used = m.gauge("BytesUsedForCache", &[]);
    assert!(used > 0.0);
    assert_eq!(used, m.gauge("redis_memory_used_bytes", &[]));
    let cpu = m.gauge("EngineCPUUtilization", &[]);
    assert!((0.0..10_000.0).contains(&cpu), "{cpu}");
    assert!(m.gauge("redis_uptime_in_seconds", &[]) >= 0.0);

    // Expiry: Reclaimed counts keys the active cycle removes.
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(20)
        .query(&mut c)
        .expect("SET PX");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape(&node);
        if m.counter("Reclaimed", &[]) == 1.0 {
            assert_eq!(m.counter("redis_expired_keys_total", &[]), 1.0);
            assert_eq!(m.gauge("CurrItems", &[]), 11.0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the expired key was never reclaimed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A memory limit gives the usage percentage.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1gb")
        .query(&mut c)
        .expect("CONFIG SET");
    let m = scrape(&node);
    let limit = (1u64 << 30) as f64;
    assert_eq!(m.gauge("redis_memory_max_bytes", &[]), limit);
    let pct = m.gauge("DatabaseMemoryUsagePercentage", &[]);
    let expect = m.gauge("BytesUsedForCache", &[]) * 100.0 / limit;
    assert!((pct - expect).abs() < 1e-9, "{pct} vs {expect}");
}

#[test]
fn redis_node_reports_evictions() {
    let node = start_redis_node(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = redis_client(&node);
    let value = "x".repeat(1000);
    for i in 0..8000 {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(&value)
            .query(&mut c)
            .expect("SET");
    }
    let m = scrape(&node);
    let evictions = m.counter("Evictions", &[]);
    assert!(evictions > 0.0, "nothing evicted");
    assert_eq!(evictions, m.counter("redis_evicted_keys_total", &[]));
    assert_eq!(m.gauge("CurrItems", &[]), 8000.0 - evictions);
    let pct = m.gauge("DatabaseMemoryUsagePercentage", &[]);
    assert!(pct > 50.0 && pct < 150.0, "{pct}");
}

/// Sends `request` to a memcached node and reads until the reply ends with `end`.
fn mc_request(s: &mut TcpStream, request: &[u8], end: &str) -> String {
    s.write_all(request).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).ends_with(end) {
        let n = s.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn memcached_node_metrics_follow_commands() {
    let node = start_memcached_node();
    let before = scrape(&node);
    assert_eq!(before.gauge("memcached_up", &[]), 1.0);
    assert_eq!(before.gauge("CurrItems", &[]), 0.0);
    assert_eq!(before.gauge("memcached_current_connections", &[]), 0.0);
    assert_eq!(
        before.gauge("memcached_limit_bytes", &[]),
        (64u64 << 20) as f64
    );

    let mut s = TcpStream::connect(("127.0.0.1", node.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut sent = 0usize;
    for i in 0..5 {
        let req = format!("set k{i} 0 0 5\r\nvalue\r\n");
        sent += req.len();
        assert_eq!(mc_request(&mut s, req.as_bytes(), "\r\n"), "STORED\r\n");
    }
    // Retrievals count per key: 3 hits (k0, k1, k2), 2 misses (x, y).
    for req in ["get k0 k1\r\n", "get k2 x\r\n", "get y\r\n"] {
        sent += req.len();
        mc_request(&mut s, req.as_bytes(), "END\r\n");
    }
    for (req, reply) in [
        ("delete k4\r\n", "DELETED\r\n"),
        ("delete nope\r\n", "NOT_FOUND\r\n"),
    ] {
        sent += req.len();
        assert_eq!(mc_request(&mut s, req.as_bytes(), "\r\n"), reply);
    }
    let m = scrape(&node);
    assert_eq!(m.gauge("CurrItems", &[]), 4.0);
    assert_eq!(m.gauge("memcached_current_items", &[]), 4.0);
    assert_eq!(m.counter("CacheHits", &[]), 3.0);
    assert_eq!(m.counter("CacheMisses", &[]), 2.0);
    assert!((m.gauge("CacheHitRate", &[]) - 60.0).abs() < 1e-9);
    assert_eq!(m.counter("GetTypeCmds", &[]), 5.0);
    assert_eq!(m.counter("SetTypeCmds", &[]), 5.0);
    // 5 keys fetched, 5 stores, 2 deletes.
    assert_eq!(m.counter("KeyBasedCmds", &[]), 12.0);
    let cmd = |command: &str, status: &str| {
        m.counter(
            "memcached_commands_total",
            &[("command", command), ("status", status)],
        )
    };
    assert_eq!(cmd("get", "hit"), 3.0);
    assert_eq!(cmd("get", "miss"), 2.0);
    assert_eq!(cmd("set", "hit"), 5.0);
    assert_eq!(cmd("delete", "hit"), 1.0);
    assert_eq!(cmd("delete", "miss"), 1.0);
    assert_eq!(m.counter("memcached_items_total", &[]), 5.0);
    assert_eq!(m.counter("NewItems", &[]), 5.0);
    // Four items of 2-byte keys and 5-byte values.
    assert_eq!(m.gauge("memcached_current_bytes", &[]), 28.0);
    assert_eq!(m.gauge("CurrConnections", &[]), 1.0);
    assert_eq!(m.gauge("memcached_current_connections", &[]), 1.0);
    assert_eq!(m.counter("memcached_connections_total", &[]), 1.0);
    assert_eq!(m.counter("NewConnections", &[]), 1.0);
    assert_eq!(m.counter("memcached_read_bytes_total", &[]), sent as f64);
    assert_eq!(m.counter("NetworkBytesIn", &[]), sent as f64);
    assert!(m.counter("memcached_written_bytes_total", &[]) > 0.0);
    assert_eq!(m.counter("memcached_items_evicted_total", &[]), 0.0);
    assert_eq!(m.counter("Evictions", &[]), 0.0);
    let pct = m.gauge("DatabaseMemoryUsagePercentage", &[]);
    let expect = m.gauge("BytesUsedForCache", &[]) * 100.0 / (64u64 << 20) as f64;
    assert!((pct - expect).abs() < 1e-9, "{pct} vs {expect}");
}

#[test]
fn other_paths_and_methods_are_refused() {
    let node = start_redis_node(&[]);
    let addr = node.metrics.expect("metrics");
    for path in ["/", "/metricsx", "/metrics/", "/favicon.ico"] {
        assert_eq!(http(addr, "GET", path).status, 404, "{path}");
    }
    // A query string does not change the path.
    assert_eq!(http(addr, "GET", "/metrics?name[]=up").status, 200);
    let head = http(addr, "HEAD", "/metrics");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let post = http(addr, "POST", "/metrics");
    assert_eq!(post.status, 405);
    assert_eq!(
        post.headers.get("allow").map(String::as_str),
        Some("GET, HEAD")
    );
    // The node still serves its own protocol.
    let mut c = redis_client(&node);
    let pong: String = redis::cmd("PING").query(&mut c).expect("PING");
    assert_eq!(pong, "PONG");
}

#[test]
fn no_metrics_port_without_the_flag() {
    let plain = start(&["--port", "0", "--bind", "127.0.0.1"]);
    assert!(plain.metrics.is_none());
    assert_eq!(
        listening_ports(plain.child.id()),
        BTreeSet::from([plain.port])
    );
    let with = start_redis_node(&[]);
    let metrics_port = with.metrics.expect("metrics").port();
    assert_eq!(
        listening_ports(with.child.id()),
        BTreeSet::from([with.port, metrics_port])
    );
    let mc = start(&[
        "--engine",
        "memcached",
        "-p",
        "0",
        "-l",
        "127.0.0.1",
        "-U",
        "0",
    ]);
    assert!(mc.metrics.is_none());
    assert_eq!(listening_ports(mc.child.id()), BTreeSet::from([mc.port]));
}

#[test]
fn a_busy_metrics_port_fails_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["server", "--port", "0", "--bind", "127.0.0.1"])
        .args(["--metrics-port", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run ferrocache");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics port"), "{err}");
}
