//! The embedded agent: starts node processes (`ferrocache server`, this same
//! binary) on loopback ports, each with its own data directory, tells whether
//! they run and answer, and stops them. Nodes run in their own process group
//! and outlive the control plane; a restarted control plane adopts them
//! through the pid file written beside their data.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::model::{Engine, NodeType};
use crate::tls::TlsFiles;

const PID_FILE: &str = "node.pid";
/// A Redis node's own configuration file: the control plane's user.
const NODE_CONF: &str = "node.conf";
/// The control plane's user on Redis nodes.
pub const ADMIN_USER: &str = "ferrocache-control";
const LOG_FILE: &str = "node.log";

/// What a node process is started with.
pub struct NodeSpec<'a> {
    pub engine: Engine,
    pub port: u16,
    pub dir: &'a Path,
    pub node_type: &'a NodeType,
    /// A Redis replica: the port of the primary it follows from the start.
    pub replica_of: Option<u16>,
    /// Parameters from its parameter group (`--name value`, or memcached
    /// flags).
    pub params: Vec<String>,
    /// A node serving TLS only (encryption in transit).
    pub tls: bool,
    /// A Redis node's ACL users from its first moment (name, rules), so
    /// that it is never open before the control plane applies them.
    pub users: &'a [(String, Vec<String>)],
}

/// A node process this agent started (a child) or adopted (no handle).
struct Proc {
    pid: u32,
    child: Option<Child>,
}

pub struct Agent {
    binary: PathBuf,
    /// The password of the control plane's own user on Redis nodes
    /// (`ferrocache-control`), so that it keeps access when the nodes'
    /// users change (RBAC) and replicas can sync from a protected primary.
    admin_password: String,
    ports: RangeInclusive<u16>,
    /// By data directory, which names a node uniquely.
    procs: Mutex<HashMap<PathBuf, Proc>>,
    tls: TlsFiles,
    /// Ports of nodes that speak TLS only.
    tls_ports: Mutex<HashSet<u16>>,
}

impl Agent {
    pub fn new(
        binary: PathBuf,
        ports: RangeInclusive<u16>,
        admin_password: String,
        tls: TlsFiles,
    ) -> Agent {
        Agent {
            binary,
            admin_password,
            ports,
            procs: Mutex::new(HashMap::new()),
            tls,
            tls_ports: Mutex::new(HashSet::new()),
        }
    }

    /// The certificate authority clients of TLS nodes trust.
    pub fn ca_file(&self) -> &Path {
        &self.tls.ca
    }

    fn note_tls(&self, port: u16, tls: bool) {
        let mut ports = self.tls_ports.lock();
        if tls {
            ports.insert(port);
        } else {
            ports.remove(&port);
        }
    }

    /// The command line of a node.
    fn command(&self, spec: &NodeSpec) -> Command {
        let threads = spec
            .node_type
            .vcpus
            .min(std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
            .to_string();
        let port = spec.port.to_string();
        let mut cmd = Command::new(&self.binary);
        match spec.engine {
            Engine::Redis => {
                let memory = format!("{}mb", spec.node_type.memory_mib);
                cmd.args(["server", "--config", NODE_CONF, "--threads", &threads]);
                if spec.tls {
                    cmd.args(self.tls.node_args(spec.port));
                } else {
                    cmd.args(["--port", &port]);
                }
                cmd.args(["--bind", "127.0.0.1", "--maxmemory", &memory])
                    // The managed service's default policy.
                    .args(["--maxmemory-policy", "volatile-lru"])
                    // A new replica syncs at once instead of waiting 5 s
                    // for others to share its snapshot.
                    .args(["--repl-diskless-sync-delay", "0", "--dir"])
                    .arg(spec.dir);
                if let Some(primary) = spec.replica_of {
                    cmd.arg("--replicaof").arg(format!("127.0.0.1 {primary}"));
                }
                cmd.args(&spec.params);
            }
            Engine::Memcached => {
                let memory = spec.node_type.memory_mib.to_string();
                cmd.args(["server", "--engine", "memcached", "-p", &port])
                    .args(["-l", "127.0.0.1", "-m", &memory, "-t", &threads])
                    .args(&spec.params);
                if spec.tls {
                    cmd.args(self.tls.memcached_args());
                }
            }
        }
        cmd
    }

    /// Starts a node (its data directory is created if needed).
    pub fn start(&self, spec: &NodeSpec) -> std::io::Result<()> {
        std::fs::create_dir_all(spec.dir)?;
        if spec.engine == Engine::Redis {
            self.write_node_conf(spec.dir, spec.users)?;
        }
        self.note_tls(spec.port, spec.tls);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.dir.join(LOG_FILE))?;
        let child = self
            .command(spec)
            .current_dir(spec.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C meant for the control plane
            // does not stop the caches.
            .process_group(0)
            .spawn()?;
        let pid = child.id();
        std::fs::write(spec.dir.join(PID_FILE), format!("{pid}\n"))?;
        self.procs.lock().insert(
            spec.dir.to_path_buf(),
            Proc {
                pid,
                child: Some(child),
            },
        );
        Ok(())
    }

    /// The Redis node's configuration file: the control plane's user (its
    /// password stored hashed), the node's users, and the credentials a
    /// replica syncs with. Owner-only, as it holds `masterauth`.
    fn write_node_conf(&self, dir: &Path, users: &[(String, Vec<String>)]) -> std::io::Result<()> {
        use sha2::Digest;
        use std::os::unix::fs::OpenOptionsExt;
        let hash: String = sha2::Sha256::digest(self.admin_password.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut text = format!(
            "# Written by the Ferrocache control plane at each start of this node.\n\
             user {ADMIN_USER} on #{hash} ~* &* +@all\n\
             masteruser {ADMIN_USER}\nmasterauth {}\n",
            self.admin_password
        );
        for (name, rules) in users.iter().filter(|(name, _)| name != ADMIN_USER) {
            text.push_str(&format!("user {name} {}\n", rules.join(" ")));
        }
        let path = dir.join(NODE_CONF);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(text.as_bytes())
    }

    /// A Redis node's answer to one command, sent as the control plane's
    /// user: a status, integer or bulk reply as text, or the error's text.
    /// None when the node cannot be reached.
    pub fn redis(&self, port: u16, args: &[&str]) -> Option<Result<String, String>> {
        let mut request = encode(&["AUTH", ADMIN_USER, &self.admin_password]);
        request.extend_from_slice(&encode(args));
        match self.connect(port)? {
            NodeConn::Plain(s) => exchange_reply(s, &request),
            NodeConn::Tls(s) => exchange_reply(*s, &request),
        }
    }

    /// A connection to a node, over TLS if it serves TLS.
    fn connect(&self, port: u16) -> Option<NodeConn> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(2000))).ok()?;
        s.set_write_timeout(Some(Duration::from_millis(1000)))
            .ok()?;
        if self.tls_ports.lock().contains(&port) {
            return Some(NodeConn::Tls(Box::new(self.tls.connect(s).ok()?)));
        }
        Some(NodeConn::Plain(s))
    }

    /// Sends `request` and reads until the reply is `done`.
    fn exchange(&self, port: u16, request: &[u8], done: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        match self.connect(port)? {
            NodeConn::Plain(s) => read_until(s, request, done),
            NodeConn::Tls(s) => read_until(*s, request, done),
        }
    }

    /// A Memcached node's `stats` answer, up to its END line.
    pub fn memcached_stats(&self, port: u16) -> Option<String> {
        let reply = self.exchange(port, b"stats\r\n", |b| b.ends_with(b"END\r\n"))?;
        String::from_utf8(reply).ok()
    }

    /// Tells a Memcached node the cluster's nodes (ElastiCache
    /// auto-discovery: `config set cluster`, answered to clients by
    /// `config get cluster`).
    pub fn push_discovery(&self, port: u16, version: u64, ports: &[u16]) -> bool {
        let nodes: Vec<String> = ports
            .iter()
            .map(|p| format!("localhost|127.0.0.1|{p}"))
            .collect();
        let payload = format!("{version}\r\n{}", nodes.join(" "));
        let request = format!("config set cluster 0 0 {}\r\n{payload}\r\n", payload.len());
        self.exchange(port, request.as_bytes(), |b| b.ends_with(b"\r\n"))
            .as_deref()
            == Some(b"STORED\r\n")
    }

    /// Does the node answer its protocol's ping (PING, `version`)?
    pub fn answers(&self, engine: Engine, port: u16) -> bool {
        match engine {
            Engine::Redis => {
                matches!(self.redis(port, &["PING"]), Some(Ok(pong)) if pong == "PONG")
            }
            Engine::Memcached => self
                .exchange(port, b"version\r\n", |b| b.ends_with(b"\r\n"))
                .is_some_and(|reply| reply.starts_with(b"VERSION ")),
        }
    }

    /// Takes over a node started by an earlier control plane, if its
    /// process still runs. Returns whether it does.
    pub fn adopt(&self, dir: &Path, port: u16, tls: bool) -> bool {
        let Some(pid) = std::fs::read_to_string(dir.join(PID_FILE))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        else {
            return false;
        };
        // The pid must still be a node of ours on that port (pids are reused).
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let args: Vec<&[u8]> = cmdline.split(|&c| c == 0).collect();
        if !args.contains(&b"server".as_slice()) || !args.contains(&port.to_string().as_bytes()) {
            return false;
        }
        self.note_tls(port, tls);
        self.procs
            .lock()
            .insert(dir.to_path_buf(), Proc { pid, child: None });
        alive(pid)
    }

    /// Does the node's process run (a child that exited is reaped)?
    pub fn running(&self, dir: &Path) -> bool {
        let mut procs = self.procs.lock();
        let Some(p) = procs.get_mut(dir) else {
            return false;
        };
        let up = match &mut p.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => alive(p.pid),
        };
        if !up {
            procs.remove(dir);
        }
        up
    }

    /// Stops a node: SIGTERM (it saves if so configured), then SIGKILL
    /// after `grace`.
    pub fn stop(&self, dir: &Path, grace: Duration) {
        let Some(mut p) = self.procs.lock().remove(dir) else {
            return;
        };
        signal(p.pid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            let gone = match &mut p.child {
                Some(child) => !matches!(child.try_wait(), Ok(None)),
                None => !alive(p.pid),
            };
            if gone {
                break;
            }
            if Instant::now() >= deadline {
                signal(p.pid, libc::SIGKILL);
                if let Some(child) = &mut p.child {
                    let _ = child.wait();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(dir.join(PID_FILE));
    }

    /// A free port of the range, not in `used`.
    pub fn free_port(&self, used: &HashSet<u16>) -> Option<u16> {
        self.ports
            .clone()
            .filter(|p| !used.contains(p))
            .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
    }
}

/// Sends AUTH and a command, and reads the command's reply (see
/// `Agent::redis`).
fn exchange_reply(mut s: impl Read + Write, request: &[u8]) -> Option<Result<String, String>> {
    s.write_all(request).ok()?;
    s.flush().ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Two replies: AUTH's (ignored: a node of an older control plane
    // has no such user, and then the command runs as `default`), then
    // the command's.
    let mut skipped = false;
    loop {
        if !skipped {
            if let Some(end) = reply_len(&buf) {
                buf.drain(..end);
                skipped = true;
                continue;
            }
        } else if let Some(reply) = parse_reply(&buf) {
            return Some(reply);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A connection to a node.
enum NodeConn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// Sends `request` and reads until `done` says the reply is complete (or
/// the node closes or times out: then what came).
fn read_until(
    mut s: impl Read + Write,
    request: &[u8],
    done: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    s.write_all(request).ok()?;
    s.flush().ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while !done(&buf) {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(buf)
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The length of the first complete reply in `buf`, if it is all there.
fn reply_len(buf: &[u8]) -> Option<usize> {
    parse_one(buf).map(|(_, len)| len)
}

/// One complete RESP2 reply: statuses, integers and bulk strings as text,
/// arrays as their elements' texts joined by newlines, errors as Err; None
/// if more bytes are needed.
fn parse_reply(buf: &[u8]) -> Option<Result<String, String>> {
    parse_one(buf).map(|(reply, _)| reply)
}

fn parse_one(buf: &[u8]) -> Option<(Result<String, String>, usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&buf[1..end]).into_owned();
    let after = end + 2;
    match buf.first()? {
        b'+' | b':' => Some((Ok(line), after)),
        b'-' => Some((Err(line), after)),
        b'$' | b'*' => {
            let Ok(len) = line.parse::<i64>() else {
                return Some((Err(format!("bad reply length {line}")), after));
            };
            if len < 0 {
                return Some((Ok(String::new()), after));
            }
            if buf[0] == b'$' {
                let body = buf.get(after..after + len as usize)?;
                let total = after + len as usize + 2;
                (buf.len() >= total)
                    .then(|| (Ok(String::from_utf8_lossy(body).into_owned()), total))
            } else {
                let mut at = after;
                let mut items = Vec::new();
                for _ in 0..len {
                    let (item, used) = parse_one(&buf[at..])?;
                    items.push(item.unwrap_or_else(|e| e));
                    at += used;
                }
                Some((Ok(items.join("\n")), at))
            }
        }
        _ => Some((Err("unexpected reply".into()), buf.len())),
    }
}

/// A field of an INFO answer (`name:value` lines).
pub fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) has exited; its parent has not reaped it yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn signal(pid: u32, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory effects; the pid is one this agent
    // started or adopted after checking its command line.
    unsafe {
        libc::kill(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `signal` (the one unsafe call) stops a process, and `alive` sees a
    /// reaped process gone.
    #[test]
    fn signal_stops_a_process() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let pid = child.id();
        assert!(alive(pid));
        signal(pid, libc::SIGTERM);
        let status = child.wait().expect("wait");
        assert!(!status.success());
        assert!(!alive(pid));
    }

    #[test]
    fn replies_and_info_fields() {
        assert_eq!(parse_reply(b"+OK\r\n"), Some(Ok("OK".into())));
        assert_eq!(parse_reply(b"-ERR no\r\n"), Some(Err("ERR no".into())));
        assert_eq!(parse_reply(b"$5\r\nab"), None);
        assert_eq!(reply_len(b"+OK\r\n:1\r\n"), Some(5));
        assert_eq!(reply_len(b"$3\r\nabc\r\n+x"), Some(9));
        assert_eq!(reply_len(b"$3\r\nab"), None);
        assert_eq!(
            parse_reply(b"*2\r\n$7\r\ndefault\r\n$3\r\nbob\r\n"),
            Some(Ok("default\nbob".into()))
        );
        assert_eq!(parse_reply(b"*2\r\n$7\r\ndefault\r\n"), None);
        let info = "# Replication\r\nrole:slave\r\nmaster_port:40001\r\n";
        let reply = parse_reply(format!("${}\r\n{info}\r\n", info.len()).as_bytes());
        let text = reply.unwrap().unwrap();
        assert_eq!(info_field(&text, "role"), Some("slave"));
        assert_eq!(info_field(&text, "master_port"), Some("40001"));
        assert_eq!(info_field(&text, "master_host"), None);
    }

    /// A pid file naming a process that is not a node on that port is not
    /// adopted (pids are reused).
    #[test]
    fn adopt_checks_the_command_line() {
        let dir = std::env::temp_dir().join(format!("ferrocache-adopt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        std::fs::write(dir.join(PID_FILE), format!("{}\n", child.id())).expect("pid file");
        let tls = TlsFiles::ensure(&dir).expect("tls files");
        let agent = Agent::new(PathBuf::from("ferrocache"), 1..=2, "pw".into(), tls);
        assert!(!agent.adopt(&dir, 30, false));
        assert!(!agent.running(&dir));
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
