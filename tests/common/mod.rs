//! Test harness: starts the real `ferrocache` binary (and, for differential
//! tests, a real `redis-server`) on ephemeral loopback ports, with raw and
//! `redis` crate connections and small RESP helpers. Submodules: [`diff`],
//! the differential harness (one command line to both servers, replies
//! compared, and the normalizers for replies whose order may differ), and
//! [`conn`], a buffered connection for scenarios that read many frames
//! (pub/sub subscribers, tracking clients).
#![allow(dead_code)]

pub mod conn;
pub mod diff;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process, killed on drop.
pub struct Proc {
    pub child: Child,
    pub port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A raw TCP connection (for protocol-level tests).
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// A `redis` crate client (RESP2).
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connect")
    }
}

/// Starts `ferrocache server --port 0 <extra args>` and waits until it listens.
pub fn start_ferrocache(extra: &[&str]) -> Proc {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra);
    spawn_ferrocache(&args, &[]).0
}

/// Starts `ferrocache server <args>` with `env` and reads its log until the
/// ready line; returns the process (its port from that line) and the log
/// lines before it.
/// The arguments of a memcached-engine node for tests: an ephemeral TCP
/// port on loopback, no UDP, two worker threads.
pub const MEMCACHED_ENGINE: &[&str] = &[
    "--engine",
    "memcached",
    "-p",
    "0",
    "-l",
    "127.0.0.1",
    "-U",
    "0",
    "-t",
    "2",
];

/// Starts a memcached-engine node ([`MEMCACHED_ENGINE`] then `extra`).
pub fn spawn_memcached_engine(extra: &[&str], env: &[(&str, &str)]) -> Proc {
    spawn_ferrocache(&[MEMCACHED_ENGINE, extra].concat(), env).0
}

pub fn spawn_ferrocache(args: &[&str], env: &[(&str, &str)]) -> (Proc, Vec<String>) {
    let mut child = ferrocache_command()
        .arg("server")
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrocache");
    let stderr = child.stderr.take().expect("stderr");
    let mut reader = BufReader::new(stderr);
    let mut log = Vec::new();
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || Instant::now() > deadline {
            panic!("ferrocache did not start: {line}");
        }
        if let Some(pos) = line.find("ready to accept connections on ") {
            let addr = line[pos + "ready to accept connections on ".len()..].trim();
            let port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            break port.expect("port in ready line");
        }
        log.push(line.clone());
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    (Proc { child, port }, log)
}

/// Is a real redis-server installed?
pub fn have_redis() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A port nothing listens on now (another process may take it before use).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts a real redis-server on a free loopback port (no persistence).
/// The port is picked before redis binds it, so another test process may
/// take it first: the server's own pid confirms we reached our redis. Its
/// RDB file has a name of its own in the temporary directory, so it never
/// loads a file left behind (one in the working directory would be
/// loaded at startup) and a SAVE writes nothing into the repository.
pub fn start_redis() -> Proc {
    start_redis_with(None, &[])
}

/// [`start_redis`] reading `config_file` first, with extra arguments after.
pub fn start_redis_with(config_file: Option<&str>, extra: &[&str]) -> Proc {
    for _ in 0..20 {
        let port = free_port();
        let dir = std::env::temp_dir();
        let dbfilename = format!(
            "ferrocache-test-redis-{}-{port}-{}.rdb",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let mut child = Command::new("redis-server")
            .args(config_file)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.to_str().expect("utf-8 temp dir")])
            .args(["--dbfilename", &dbfilename])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--enable-debug-command", "local"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().ok().flatten().is_some() {
                break; // could not bind: try another port
            }
            if serves_pid(port, child.id()) {
                return Proc { child, port };
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("redis-server did not start on any free port");
}

/// Does the server on `port` report process id `pid` (INFO server)?
fn serves_pid(port: u16, pid: u32) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let want = format!("process_id:{pid}\r\n");
    while let Ok(n) = s.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(at) = text.find("process_id:") {
            if text[at..].contains("\r\n") {
                return text[at..].starts_with(&want);
            }
        }
    }
    false
}

/// A raw connection: send bytes, read replies.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).ok();
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command encoded as a RESP multibulk.
    pub fn cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode(args));
    }

    /// Reads exactly one complete RESP reply (any type, nested), raw bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        self.try_read_reply().expect("read reply")
    }

    /// Like [`Raw::read_reply`], but an error (timeout, closed connection)
    /// is returned instead of panicking.
    pub fn try_read_reply(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_value(&mut out)?;
        Ok(out)
    }

    fn read_line(&mut self, out: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        loop {
            if self.stream.read(&mut b)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed while reading a reply",
                ));
            }
            line.push(b[0]);
            if line.ends_with(b"\r\n") {
                break;
            }
        }
        out.extend_from_slice(&line);
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn read_value(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let line = self.read_line(out)?;
        let n: i64 = std::str::from_utf8(&line[1..])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match line[0] {
            b'$' | b'=' | b'!' if n >= 0 => {
                let mut body = vec![0u8; n as usize + 2];
                self.stream.read_exact(&mut body)?;
                out.extend_from_slice(&body);
            }
            b'*' | b'~' | b'>' if n > 0 => {
                for _ in 0..n {
                    self.read_value(out)?;
                }
            }
            b'%' | b'|' if n > 0 => {
                for _ in 0..2 * n {
                    self.read_value(out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// True once the server has closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 64];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// Encodes a command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(&bulk(a));
    }
    v
}

/// A RESP bulk string.
pub fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

// ---------------------------------------------------------------------------
// Helpers added for the end-to-end suites (protocol, resp3, concurrency,
// expiry, config, clients). Existing helpers above are unchanged.

impl Proc {
    /// A `redis` crate client speaking RESP3 (`?protocol=resp3`: HELLO 3 on connect).
    pub fn client_resp3(&self) -> redis::Connection {
        redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .expect("client")
            .get_connection()
            .expect("connect")
    }

    /// Polls until the process exits (or `timeout` passes: None).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The `ferrocache` binary, for tests that manage the process themselves.
/// It runs in a directory of its own: a node saves its RDB file in its
/// working directory (save points are on by default, as in Redis), and a
/// file left by one test must not be loaded by the next.
pub fn ferrocache_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
    cmd.current_dir(fresh_dir());
    cmd
}

/// A new empty directory under the system's temp directory.
pub fn fresh_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ferrocache-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test directory");
    dir
}

/// Runs `ferrocache server <args>` expecting it to fail at startup: returns
/// its exit status and stderr. Panics if it is still running after 20 s.
pub fn ferrocache_startup_failure(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = ferrocache_command()
        .arg("server")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrocache");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ferrocache {args:?} kept running; expected a startup failure");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().expect("stderr reader"))
}

/// A fresh scratch directory under the system temp dir (removed on drop).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "ferrocache-test-{tag}-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Raw {
    /// Sends a command given as strings and reads its reply.
    pub fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a);
        self.read_reply()
    }

    /// Reads everything until the peer closes the connection. Panics if the
    /// connection is still open after the read timeout (10 s by default).
    pub fn read_until_eof(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
                Err(e) => panic!(
                    "connection still open ({e}); read so far: {:?}",
                    String::from_utf8_lossy(&out)
                ),
            }
        }
    }

    /// Reads whatever arrives within `wait` (the connection staying open).
    /// Used to check that nothing (more) is sent: never blocks past `wait`.
    pub fn read_for(&mut self, wait: Duration) -> Vec<u8> {
        let old = self.stream.read_timeout().ok().flatten();
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        self.stream.set_read_timeout(old).expect("timeout");
        out
    }

    /// Reads one `\r\n`-terminated line (without the terminator).
    pub fn read_text_line(&mut self) -> String {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        loop {
            let n = self.stream.read(&mut b).expect("read");
            assert!(n == 1, "connection closed while reading a line");
            line.push(b[0]);
            if line.ends_with(b"\r\n") {
                line.truncate(line.len() - 2);
                return String::from_utf8_lossy(&line).into_owned();
            }
        }
    }
}

/// A text rendering of raw reply bytes for assertion messages.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned()
}

/// The value of `field` in an INFO reply text (`field:value` lines).
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// Joins the threads, failing with the first panic message.
pub fn join_all<T>(handles: Vec<std::thread::JoinHandle<T>>) -> Vec<T> {
    handles
        .into_iter()
        .map(|h| match h.join() {
            Ok(v) => v,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("a client thread failed: {msg}");
            }
        })
        .collect()
}

/// Polls `check` every 20 ms until it returns true; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis` crate connection whose reads and writes fail after 10 s
/// instead of hanging (a deadlock then fails the test).
pub fn connect_with_timeouts(url: &str) -> redis::Connection {
    connect_with_timeout(url, Duration::from_secs(10))
}

/// A `redis` crate connection whose reads and writes fail after `timeout`.
pub fn connect_with_timeout(url: &str, timeout: Duration) -> redis::Connection {
    let c = redis::Client::open(url)
        .expect("client")
        .get_connection()
        .expect("connect");
    c.set_read_timeout(Some(timeout)).expect("read timeout");
    c.set_write_timeout(Some(timeout)).expect("write timeout");
    c
}

/// Runs a command given as byte strings; an error reply fails the test.
pub fn q(c: &mut redis::Connection, args: &[&[u8]]) -> redis::Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => v,
        Err(e) => panic!("{}: {e}", show_args(args)),
    }
}

/// Runs a command given as strings; an error reply fails the test.
pub fn qs(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    q(c, &a)
}

/// A command line for failure messages (long arguments cut).
pub fn show_args(args: &[&[u8]]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if s.len() > 60 {
                format!("{}...({} bytes)", &s[..60], a.len())
            } else {
                s.into_owned()
            }
        })
        .collect();
    shown.join(" ")
}

/// An integer reply (anything else fails the test).
pub fn int_value(v: &redis::Value) -> i64 {
    match v {
        redis::Value::Int(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// The hash slot of a key (CRC16/XMODEM of its `{hash tag}` or whole name,
/// mod 16384), as the server computes it.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&c| c == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&c| c == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &b in hashed {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The keyspace lock shard of a key (256 shards of 64 slots).
pub fn shard(key: &str) -> u16 {
    key_slot(key.as_bytes()) / 64
}

/// Starts redis-server with `--dir dir` (loading what `dir` holds), DEBUG
/// allowed, no save points, and `extra` options, on the ports `next_port`
/// hands out (the calling file's own range; 20 tried), and waits until it
/// has loaded its data. Returns it and its log so far (`dir/redis.log`).
pub fn redis_in_dir(
    dir: &std::path::Path,
    extra: &[&str],
    mut next_port: impl FnMut() -> u16,
) -> (Proc, String) {
    let log = dir.join("redis.log");
    for _ in 0..20 {
        let port = next_port();
        let _ = std::fs::remove_file(&log);
        let child = redis_command(dir, port, extra)
            .spawn()
            .expect("start redis-server (is it installed?)");
        let mut node = Proc { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = node.child.try_wait().expect("try_wait") {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("Address already in use") {
                    break; // another process has that port: try the next one
                }
                panic!("redis-server exited ({status}) on port {port}:\n{text}");
            }
            if redis_ready(port, node.child.id()) {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return (node, text);
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("redis-server did not start on any of the 20 ports tried");
}

/// The redis-server command line [`redis_in_dir`] runs: `dir`, `port`,
/// DEBUG allowed, no save points, log in `dir/redis.log`, then `extra`.
pub fn redis_command(dir: &std::path::Path, port: u16, extra: &[&str]) -> Command {
    let log = dir.join("redis.log");
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", dir.to_str().expect("utf-8 temp dir")])
        .args(["--save", "", "--daemonize", "no"])
        .args(["--enable-debug-command", "yes"])
        .args(["--logfile", log.to_str().expect("utf-8 temp dir")])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Is the server on `port` the process `pid`, done loading its data?
pub fn redis_ready(port: u16, pid: u32) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return false;
    };
    let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return false;
    };
    let Ok(info) = redis::cmd("INFO").query::<String>(&mut c) else {
        return false;
    };
    info_field(&info, "process_id") == Some(pid.to_string())
        && info_field(&info, "loading").as_deref() == Some("0")
}

/// Starts a real memcached on a free port with extra flags.
pub fn start_memcached(extra: &[&str]) -> Proc {
    let installed = Command::new("memcached")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // Like the Redis side's differential tests, a missing reference server
    // fails the tests instead of skipping them (CI installs it).
    assert!(
        installed,
        "memcached not found on PATH: the differential tests need it \
         (Debian/Ubuntu: apt-get install memcached)"
    );
    for _ in 0..10 {
        let port = free_port();
        let mut cmd = Command::new("memcached");
        cmd.args(["-p", &port.to_string(), "-U", "0", "-l", "127.0.0.1"]);
        cmd.args(extra);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["-u", "root"]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn memcached");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Proc { child, port };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("memcached did not start");
}
