//! End-to-end tests of the memcached engine: the real `ferrocache server --engine
//! memcached` binary, driven over raw sockets, against a real memcached 1.6 (Debian's
//! package) when one is installed: the same byte streams go to both and the replies must
//! be identical. Covered: the classic command table, error paths of malformed input (the
//! connection must stay usable where memcached keeps it), pipelines, meta commands, the
//! binary protocol, expiry rules, and (Ferrocache alone) CAS under concurrency and the
//! command line.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Proc;

/// Starts `ferrocache server --engine memcached` on a free loopback port.
fn start_ferrocache(extra: &[&str]) -> Proc {
    start_ferrocache_env(extra, &[])
}

/// [`start_ferrocache`] with environment variables.
fn start_ferrocache_env(extra: &[&str], env: &[(&str, &str)]) -> Proc {
    common::spawn_memcached_engine(extra, env)
}

/// Starts a real memcached on a free port.
fn start_memcached() -> Option<Proc> {
    Some(common::start_memcached(&[]))
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

/// Sends `input` then `mn`, and returns every reply byte before the `MN` that answers it
/// (so `input` itself must not contain `mn`).
fn text_exchange(port: u16, input: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(input).expect("write");
    s.write_all(b"mn\r\n").expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(b"MN\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    if out.ends_with(b"MN\r\n") {
        out.truncate(out.len() - 4);
    }
    out
}

/// A binary request.
fn bin(op: u8, key: &[u8], extras: &[u8], value: &[u8], opaque: u32, cas: u64) -> Vec<u8> {
    let mut v = vec![0x80, op];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&opaque.to_be_bytes());
    v.extend_from_slice(&cas.to_be_bytes());
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

/// Sends binary requests then a NOOP with opaque 0xfeedface; returns the responses before
/// the NOOP's, with CAS fields zeroed (uniques depend on each server's history).
fn binary_exchange(port: u16, input: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(input).expect("write");
    s.write_all(&bin(0x0a, b"", b"", b"", 0xfeed_face, 0))
        .expect("write");
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let mut out = Vec::new();
    loop {
        // Split complete responses.
        while raw.len() >= 24 {
            let body = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
            if raw.len() < 24 + body {
                break;
            }
            let mut frame: Vec<u8> = raw.drain(..24 + body).collect();
            if frame[1] == 0x0a && frame[12..16] == 0xfeed_faceu32.to_be_bytes() {
                return out;
            }
            frame[16..24].fill(0);
            out.extend_from_slice(&frame);
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

struct Pair {
    ferro: Proc,
    memcached: Option<Proc>,
}

fn pair() -> Pair {
    Pair {
        ferro: start_ferrocache(&[]),
        memcached: start_memcached(),
    }
}

impl Pair {
    /// Runs `input` on both servers (after a flush) and requires identical replies.
    fn check(&self, name: &str, input: &[u8]) -> Vec<u8> {
        let ours = text_exchange(self.ferro.port, &[b"flush_all noreply\r\n", input].concat());
        if let Some(mc) = &self.memcached {
            let theirs = text_exchange(mc.port, &[b"flush_all noreply\r\n", input].concat());
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{name}: ferrocache (left) and memcached (right) differ for {:?}",
                String::from_utf8_lossy(input)
            );
        }
        ours
    }

    fn check_binary(&self, name: &str, input: &[u8]) -> Vec<u8> {
        text_exchange(self.ferro.port, b"flush_all\r\n");
        let ours = binary_exchange(self.ferro.port, input);
        if let Some(mc) = &self.memcached {
            text_exchange(mc.port, b"flush_all\r\n");
            let theirs = binary_exchange(mc.port, input);
            assert_eq!(ours, theirs, "{name}: binary responses differ");
        }
        ours
    }
}

#[test]
fn classic_commands_match_memcached() {
    let p = pair();
    let cases: &[(&str, &[u8])] = &[
        ("set/get", b"set a 5 0 3\r\nabc\r\nget a\r\nget a nokey a\r\n"),
        (
            "add/replace",
            b"add a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nreplace a 3 0 2\r\nzz\r\nreplace b 0 0 1\r\nq\r\nget a b\r\n",
        ),
        (
            "append/prepend",
            b"append a 0 0 1\r\nx\r\nset a 0 0 1\r\nm\r\nappend a 9 0 2\r\n>>\r\nprepend a 9 0 2\r\n<<\r\nget a\r\n",
        ),
        (
            "incr/decr",
            b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nget n\r\nincr n 18446744073709551615\r\nincr nope 1\r\nset s 0 0 1\r\nx\r\nincr s 1\r\nincr n abc\r\n",
        ),
        (
            "wrap",
            b"set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\nget n\r\n",
        ),
        (
            "delete",
            b"set d 0 0 1\r\n1\r\ndelete d\r\ndelete d\r\ndelete d 0\r\ndelete d 5\r\ndelete d noreply\r\n",
        ),
        (
            "touch/gat",
            b"set t 7 0 1\r\n1\r\ntouch t 100\r\ntouch none 1\r\ngat 100 t none\r\ngat 10\r\n",
        ),
        (
            "noreply",
            b"set a 0 0 1 noreply\r\n1\r\nadd a 0 0 1 noreply\r\n2\r\nincr a 1 noreply\r\nget a\r\n",
        ),
        ("version/verbosity", b"version\r\nverbosity 1\r\nverbosity 1 noreply\r\n"),
        ("stats sizes", b"stats sizes\r\n"),
        ("flush", b"set a 0 0 1\r\n1\r\nflush_all\r\nget a\r\nflush_all 0\r\n"),
        ("empty value", b"set e 0 0 0\r\n\r\nget e\r\n"),
        ("flags", b"set f 4294967295 0 1\r\nx\r\nget f\r\n"),
    ];
    for (name, input) in cases {
        p.check(name, input);
    }
}

#[test]
fn malformed_input_matches_memcached() {
    let p = pair();
    let long_key = "k".repeat(251);
    let ok_key = "k".repeat(250);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown command", b"bogus\r\nget a\r\n".to_vec()),
        (
            "bad data chunk",
            b"set a 0 0 1\r\nxyz\r\nget a\r\n".to_vec(),
        ),
        ("bad length", b"set a 0 0 -1\r\nget a\r\n".to_vec()),
        ("missing args", b"set a 0 0\r\nget a\r\n".to_vec()),
        ("bad exptime", b"set a 0 x 1\r\n1\r\nget a\r\n".to_vec()),
        // Separate streams: memcached drops replies queued in the same batch before a
        // failed `get`, which depends on how its reads were split.
        (
            "set key too long",
            format!("set {long_key} 0 0 1\r\nx\r\nget a\r\n").into_bytes(),
        ),
        (
            "get key too long",
            format!("get {long_key}\r\n").into_bytes(),
        ),
        (
            "longest key",
            format!("set {ok_key} 0 0 1\r\nx\r\nget {ok_key}\r\n").into_bytes(),
        ),
        (
            "too large",
            format!(
                "set big 0 0 2000000\r\n{}\r\nget big\r\n",
                "x".repeat(2_000_000)
            )
            .into_bytes(),
        ),
        ("bad incr", b"incr a\r\nincr a -1\r\ndecr\r\n".to_vec()),
        ("bad cas", b"cas a 0 0 1\r\nx\r\nget a\r\n".to_vec()),
        ("empty line", b"\r\nget a\r\n".to_vec()),
    ];
    for (name, input) in &cases {
        p.check(name, input);
    }
}

#[test]
fn pipelines_match_memcached() {
    let p = pair();
    let mut input = Vec::new();
    for i in 0..300 {
        input.extend_from_slice(
            format!("set k{i} {i} 0 {}\r\n{i}\r\n", i.to_string().len()).as_bytes(),
        );
        if i % 3 == 0 {
            input.extend_from_slice(format!("incr k{i} 7\r\n").as_bytes());
        }
        if i % 5 == 0 {
            input.extend_from_slice(format!("delete k{}\r\n", i / 2).as_bytes());
        }
    }
    input.extend_from_slice(b"get");
    for i in 0..300 {
        input.extend_from_slice(format!(" k{i}").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    let ours = p.check("pipeline", &input);
    assert!(ours.ends_with(b"END\r\n"));
}

#[test]
fn meta_commands_match_memcached() {
    let p = pair();
    let cases: &[(&str, &[u8])] = &[
        (
            "ms/mg flags",
            b"ms m 2 F5 T0\r\nhi\r\nmg m v f s t k O123\r\nmg m\r\nmg miss v\r\nmg miss v q k\r\n",
        ),
        (
            "modes",
            b"ms m 1 ME\r\na\r\nms m 1 ME\r\nb\r\nms m 1 MA\r\nc\r\nms m 1 MP\r\nd\r\nms x 1 MR\r\ne\r\nmg m v\r\n",
        ),
        (
            "md",
            b"ms m 1\r\na\r\nmd m q\r\nmd m\r\nmd m q\r\nmg m v\r\n",
        ),
        (
            "ma",
            b"ma c\r\nma c N0 J10 v\r\nma c v\r\nma c MD D3 v\r\nma c q\r\nmg c v\r\nms s 1\r\nx\r\nma s\r\n",
        ),
        (
            "base64 keys",
            b"ms Zm9v 1 b\r\nx\r\nmg Zm9v b v k\r\nmg foo v\r\n",
        ),
        (
            "vivify and lease",
            b"mg v v N30 t\r\nmg v v t\r\nms l 1 T100\r\nx\r\nmd l I T30\r\nmg l v\r\nmg l v\r\n",
        ),
        ("bad flags", b"mg a !\r\nms a x\r\nmg\r\n"),
    ];
    for (name, input) in cases {
        p.check(name, input);
    }
}

/// Reads until the server closes the connection or is quiet for a while.
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                out.extend_from_slice(b"<closed>");
                return out;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return out,
        }
    }
}

/// `-B ascii` and `-B binary` fix the protocol as in memcached: a binary
/// request is read as text lines (its NOOP opcode is a newline), and text
/// is read as a binary header whose magic is wrong.
#[test]
fn protocol_flag_fixes_the_protocol() {
    let set_extras = [0u8, 0, 0, 7, 0, 0, 0, 0];
    let mut binary_requests = bin(0x01, b"k", &set_extras, b"v", 1, 0);
    binary_requests.extend(bin(0x00, b"k", b"", b"", 2, 0));
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "ascii",
            [bin(0x0a, b"", b"", b"", 7, 0), b"\r\nversion\r\n".to_vec()].concat(),
        ),
        ("ascii", b"set k 0 0 1\r\nv\r\nget k\r\n".to_vec()),
        ("binary", binary_requests),
        ("binary", b"get k\r\n0123456789abcdef\r\n".to_vec()),
    ];
    for (protocol, input) in cases {
        let ferro = start_ferrocache(&["-B", protocol]);
        let real = common::start_memcached(&["-B", protocol]);
        let replies = |port: u16| {
            let mut s = connect(port);
            s.write_all(&input).expect("write");
            let mut out = read_all(&mut s);
            // Uniques differ from server to server.
            let mut at = 0;
            while protocol == "binary" && out.len() >= at + 24 && out[at] == 0x81 {
                out[at + 16..at + 24].fill(0);
                let body =
                    u32::from_be_bytes([out[at + 8], out[at + 9], out[at + 10], out[at + 11]]);
                at += 24 + body as usize;
            }
            out
        };
        let (ours, theirs) = (replies(ferro.port), replies(real.port));
        assert!(!theirs.is_empty(), "-B {protocol}: memcached said nothing");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "-B {protocol}: ferrocache (left) and memcached (right) differ for {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn binary_protocol_matches_memcached() {
    let p = pair();
    let set_extras = [0u8, 0, 0, 7, 0, 0, 0, 0];
    let mut input = Vec::new();
    input.extend(bin(0x01, b"a", &set_extras, b"hello", 1, 0)); // SET
    input.extend(bin(0x00, b"a", b"", b"", 2, 0)); // GET
    input.extend(bin(0x0c, b"a", b"", b"", 3, 0)); // GETK
    input.extend(bin(0x00, b"miss", b"", b"", 4, 0)); // GET miss
    input.extend(bin(0x0d, b"miss", b"", b"", 5, 0)); // GETKQ miss: silent
    input.extend(bin(0x0c, b"miss", b"", b"", 6, 0)); // GETK miss: key echoed
    input.extend(bin(0x02, b"a", &set_extras, b"x", 7, 0)); // ADD existing
    input.extend(bin(0x03, b"zz", &set_extras, b"x", 8, 0)); // REPLACE missing
    input.extend(bin(0x0e, b"a", b"", b"!!", 9, 0)); // APPEND
    input.extend(bin(0x0f, b"zz", b"", b"!!", 10, 0)); // PREPEND missing
    let mut arith = Vec::new();
    arith.extend_from_slice(&5u64.to_be_bytes());
    arith.extend_from_slice(&100u64.to_be_bytes());
    arith.extend_from_slice(&0u32.to_be_bytes());
    input.extend(bin(0x05, b"n", &arith, b"", 11, 0)); // INCR miss: initial
    input.extend(bin(0x05, b"n", &arith, b"", 12, 0)); // INCR
    input.extend(bin(0x06, b"n", &arith, b"", 13, 0)); // DECR
    input.extend(bin(0x05, b"a", &arith, b"", 14, 0)); // INCR non-numeric
    input.extend(bin(0x11, b"q", &set_extras, b"quiet", 15, 0)); // SETQ: silent
    input.extend(bin(0x00, b"q", b"", b"", 16, 0));
    input.extend(bin(0x04, b"q", b"", b"", 17, 0)); // DELETE
    input.extend(bin(0x04, b"q", b"", b"", 18, 0)); // DELETE miss
    input.extend(bin(0x14, b"q", b"", b"", 19, 0)); // DELETEQ miss: error still sent
    input.extend(bin(0x01, b"c", &set_extras, b"v", 20, 12345)); // SET with stale CAS
    input.extend(bin(0x0b, b"", b"", b"", 21, 0)); // VERSION
    let out = p.check_binary("binary table", &input);
    assert!(!out.is_empty());
}

#[test]
fn expiry_rules_match_memcached() {
    let p = pair();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let past = now - 1000;
    let future = now + 1000;
    p.check(
        "negative and absolute",
        format!(
            "set a 0 -1 1\r\nx\r\nget a\r\nset b 0 {past} 1\r\nx\r\nget b\r\nset c 0 {future} 1\r\nx\r\nget c\r\ntouch c -1\r\nget c\r\n"
        )
        .as_bytes(),
    );
    // A relative TTL of 1 second: gone after a little over two (memcached's clock ticks
    // once a second).
    for port in std::iter::once(p.ferro.port).chain(p.memcached.as_ref().map(|m| m.port)) {
        text_exchange(port, b"set r 0 1 1\r\nx\r\n");
    }
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(text_exchange(p.ferro.port, b"get r\r\n"), b"END\r\n");
    if let Some(mc) = &p.memcached {
        assert_eq!(text_exchange(mc.port, b"get r\r\n"), b"END\r\n");
    }
}

#[test]
fn delayed_flush_all_matches_memcached() {
    let p = pair();
    let ports: Vec<u16> = std::iter::once(p.ferro.port)
        .chain(p.memcached.as_ref().map(|m| m.port))
        .collect();
    for &port in &ports {
        assert_eq!(
            text_exchange(port, b"set df 0 0 1\r\nx\r\nflush_all 2\r\nget df\r\n"),
            b"STORED\r\nOK\r\nVALUE df 0 1\r\nx\r\nEND\r\n"
        );
    }
    std::thread::sleep(Duration::from_millis(3200));
    for &port in &ports {
        assert_eq!(
            text_exchange(port, b"get df\r\n"),
            b"END\r\n",
            "port {port}"
        );
    }
}

/// The `gets` CAS unique of `key`.
fn gets(s: &mut BufReader<TcpStream>, key: &str) -> (u64, u64) {
    s.get_mut()
        .write_all(format!("gets {key}\r\n").as_bytes())
        .expect("write");
    let mut line = String::new();
    s.read_line(&mut line).expect("read");
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts[0], "VALUE", "{line}");
    let cas = parts[4].parse().expect("cas");
    let mut value = String::new();
    s.read_line(&mut value).expect("value");
    let mut end = String::new();
    s.read_line(&mut end).expect("end");
    (value.trim().parse().expect("number"), cas)
}

#[test]
fn cas_increments_lose_no_update_under_concurrency() {
    // Spread: the clients' connections are on every worker from the start.
    let ferro = start_ferrocache(&["-t", "4", "-o", "worker_placement=spread"]);
    text_exchange(ferro.port, b"set counter 0 0 1\r\n0\r\n");
    const THREADS: usize = 8;
    const PER_THREAD: u64 = 100;
    let port = ferro.port;
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = BufReader::new(connect(port));
                let mut retries = 0u64;
                for _ in 0..PER_THREAD {
                    loop {
                        let (value, cas) = gets(&mut s, "counter");
                        let next = (value + 1).to_string();
                        s.get_mut()
                            .write_all(
                                format!("cas counter 0 0 {} {cas}\r\n{next}\r\n", next.len())
                                    .as_bytes(),
                            )
                            .expect("write");
                        let mut reply = String::new();
                        s.read_line(&mut reply).expect("reply");
                        match reply.as_str() {
                            "STORED\r\n" => break,
                            "EXISTS\r\n" => retries += 1,
                            other => panic!("unexpected cas reply {other:?}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut s = BufReader::new(connect(port));
    let (value, _) = gets(&mut s, "counter");
    assert_eq!(value, THREADS as u64 * PER_THREAD);
    let stats = String::from_utf8(text_exchange(port, b"stats\r\n")).expect("utf8");
    assert!(
        stats.contains(&format!(
            "STAT cas_hits {}\r\n",
            THREADS as u64 * PER_THREAD
        )),
        "{stats}"
    );
}

/// CPU time (clock ticks) the thread named `name` of process `pid` has
/// used; None before the thread has its name.
fn thread_ticks(pid: u32, name: &str) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] == name {
            // utime and stime: fields 14 and 15, the 12th and 13th after the name.
            let fields: Vec<u64> = stat[close + 2..]
                .split(' ')
                .skip(11)
                .take(2)
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            return Some(fields.iter().sum());
        }
    }
    None
}

/// With elastic placement (the default) the connections start on one
/// worker; a load that keeps it busy has the second one tried, which takes
/// half of them between requests (and, when the rate does not rise with
/// it, hands them back). Every pipelined reply arrives, in order, through
/// the moves.
#[test]
fn connections_move_between_workers_without_losing_a_reply() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let ferro = start_ferrocache(&["-t", "2"]);
    let pid = ferro.child.id();
    let port = ferro.port;
    common::wait_until(Duration::from_secs(5), "the workers named", || {
        thread_ticks(pid, "worker-1").is_some()
    });
    assert_eq!(thread_ticks(pid, "worker-1"), Some(0));
    // A multi-get of keys that do not exist costs the server a lookup per
    // key and the client one short line: the worker, not the clients,
    // needs the CPU.
    let misses: String = (0..200).map(|k| format!(" absent:{k}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..4)
        .map(|i| {
            let stop = stop.clone();
            let request = format!("get{misses}\r\nincr counter:{i} 1\r\n").repeat(50);
            std::thread::spawn(move || {
                let mut s = BufReader::new(connect(port));
                s.get_mut()
                    .write_all(format!("set counter:{i} 0 0 1\r\n0\r\n").as_bytes())
                    .expect("write");
                let mut line = String::new();
                s.read_line(&mut line).expect("stored");
                assert_eq!(line, "STORED\r\n");
                let mut expected = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    s.get_mut().write_all(request.as_bytes()).expect("write");
                    for _ in 0..50 {
                        expected += 1;
                        line.clear();
                        s.read_line(&mut line).expect("end");
                        assert_eq!(line, "END\r\n");
                        line.clear();
                        s.read_line(&mut line).expect("incr");
                        assert_eq!(line, format!("{expected}\r\n"));
                    }
                }
                expected
            })
        })
        .collect();
    common::wait_until(Duration::from_secs(20), "the second worker serving", || {
        std::thread::sleep(Duration::from_millis(100));
        thread_ticks(pid, "worker-1").unwrap_or(0) >= 10
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let counts = common::join_all(loaders);
    let mut s = BufReader::new(connect(port));
    for (i, n) in counts.iter().enumerate() {
        let (value, _) = gets(&mut s, &format!("counter:{i}"));
        assert_eq!(value, *n);
    }
}

#[test]
fn stats_fields_are_real() {
    let ferro = start_ferrocache(&["-m", "32", "-c", "50"]);
    text_exchange(
        ferro.port,
        b"set a 0 0 3\r\nabc\r\nget a\r\nget b\r\ndelete b\r\nincr a 1\r\ntouch a 10\r\n",
    );
    let stats = String::from_utf8(text_exchange(ferro.port, b"stats\r\n")).expect("utf8");
    for want in [
        "STAT curr_items 1\r\n",
        "STAT total_items 1\r\n",
        "STAT cmd_get 2\r\n",
        "STAT cmd_set 1\r\n",
        "STAT get_hits 1\r\n",
        "STAT get_misses 1\r\n",
        "STAT delete_misses 1\r\n",
        "STAT incr_misses 0\r\n",
        "STAT touch_hits 1\r\n",
        "STAT limit_maxbytes 33554432\r\n",
        "STAT max_connections 50\r\n",
        "STAT threads 2\r\n",
        "STAT bytes 4\r\n",
        &format!("STAT pid {}\r\n", ferro.child.id()),
    ] {
        assert!(stats.contains(want), "missing {want:?} in {stats}");
    }
    let settings =
        String::from_utf8(text_exchange(ferro.port, b"stats settings\r\n")).expect("utf8");
    assert!(
        settings.contains("STAT maxbytes 33554432\r\n"),
        "{settings}"
    );
    assert!(
        settings.contains("STAT item_size_max 1048576\r\n"),
        "{settings}"
    );
    // No slab classes.
    assert_eq!(
        text_exchange(ferro.port, b"stats slabs\r\n"),
        b"STAT active_slabs 0\r\nEND\r\n"
    );
}

#[test]
fn command_line_refuses_unsupported_flags() {
    for args in [
        &["-S"][..],
        &["-U", "11211"],
        &["-s", "/tmp/x.sock"],
        &["-o", "bogus"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
            .args(["server", "--engine", "memcached"])
            .args(args)
            .env_remove("MEMCACHED_SASL_PWDB")
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["server", "--engine", "memcached", "-h"])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-m, --memory-limit"));
}

/// Expired items leave `bytes` and `curr_items`, whether the active cycle
/// reclaims them or a later store replaces them.
#[test]
fn expired_items_leave_bytes() {
    let ferro = start_ferrocache(&[]);
    text_exchange(
        ferro.port,
        b"set kept 0 0 5\r\nhello\r\nset gone1 0 1 10\r\n0123456789\r\nset gone2 0 1 10\r\n0123456789\r\n",
    );
    let stats = String::from_utf8(text_exchange(ferro.port, b"stats\r\n")).expect("utf8");
    assert_eq!(stat(&stats, "bytes"), 9 + 2 * 15, "{stats}");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // gone2 is replaced after it expired; gone1 is reclaimed by the active cycle.
    text_exchange(ferro.port, b"set gone2 0 0 3\r\nabc\r\n");
    let mut stats = String::new();
    for _ in 0..50 {
        stats = String::from_utf8(text_exchange(ferro.port, b"stats\r\n")).expect("utf8");
        if stat(&stats, "curr_items") == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(stat(&stats, "curr_items"), 2, "{stats}");
    assert_eq!(stat(&stats, "bytes"), 9 + 8, "{stats}");
}

/// Stores `count` 1000-byte items and returns how many were not `STORED` and the stats.
fn fill(port: u16, count: usize) -> (usize, String) {
    let mut s = BufReader::new(connect(port));
    let value = "x".repeat(1000);
    let mut failed = 0;
    for i in 0..count {
        s.get_mut()
            .write_all(format!("set key{i} 0 0 1000\r\n{value}\r\n").as_bytes())
            .expect("write");
        let mut reply = String::new();
        s.read_line(&mut reply).expect("reply");
        if reply != "STORED\r\n" {
            assert_eq!(reply, "SERVER_ERROR out of memory storing object\r\n");
            failed += 1;
        }
    }
    let stats = String::from_utf8(text_exchange(port, b"stats\r\n")).expect("utf8");
    (failed, stats)
}

fn stat(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

#[test]
fn memory_limit_evicts_least_recently_used() {
    let ferro = start_ferrocache(&["-m", "4"]);
    let (failed, stats) = fill(ferro.port, 12_000);
    assert_eq!(failed, 0);
    assert!(stat(&stats, "evictions") > 4000, "{stats}");
    assert!(stat(&stats, "curr_items") < 4200, "{stats}");
    // The newest item survives eviction.
    let newest = text_exchange(ferro.port, b"get key11999\r\n");
    assert!(newest.starts_with(b"VALUE key11999 0 1000\r\n"));
}

#[test]
fn memory_limit_with_dash_m_refuses_stores() {
    let ferro = start_ferrocache(&["-m", "4", "-M"]);
    let (failed, stats) = fill(ferro.port, 12_000);
    assert!(failed > 4000, "{failed} {stats}");
    assert_eq!(stat(&stats, "evictions"), 0);
    // The oldest items are still there: nothing was evicted.
    assert!(text_exchange(ferro.port, b"get key0\r\n").starts_with(b"VALUE key0 "));
}

/// Reads one binary response: (opcode, status, body).
fn read_bin(s: &mut TcpStream) -> Option<(u8, u16, Vec<u8>)> {
    let mut header = [0u8; 24];
    s.read_exact(&mut header).ok()?;
    let body_len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
    let mut body = vec![0u8; body_len];
    s.read_exact(&mut body).ok()?;
    Some((header[1], u16::from_be_bytes([header[6], header[7]]), body))
}

#[test]
fn sasl_plain_authentication() {
    let dir = std::env::temp_dir().join(format!("ferrocache-sasl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pwdb = dir.join("pwdb");
    std::fs::write(&pwdb, "alice:secret\nbob@realm:hunter2\n").expect("pwdb");
    let ferro = start_ferrocache_env(
        &["-S"],
        &[("MEMCACHED_SASL_PWDB", pwdb.to_str().expect("utf8"))],
    );
    let set_extras = [0u8; 8];

    // Unauthenticated commands: Auth failure (0x20), then the connection is closed.
    let mut s = connect(ferro.port);
    s.write_all(&bin(0x00, b"k", b"", b"", 1, 0))
        .expect("write");
    assert_eq!(read_bin(&mut s).map(|r| r.1), Some(0x20));
    assert!(read_bin(&mut s).is_none());

    let mut s = connect(ferro.port);
    s.write_all(&bin(0x20, b"", b"", b"", 1, 0)).expect("write");
    assert_eq!(read_bin(&mut s).map(|r| r.2), Some(b"PLAIN".to_vec()));
    s.write_all(&bin(0x21, b"PLAIN", b"", b"\0alice\0wrong", 2, 0))
        .expect("write");
    assert_eq!(read_bin(&mut s).map(|r| r.1), Some(0x20));
    s.write_all(&bin(0x21, b"PLAIN", b"", b"\0bob\0hunter2", 3, 0))
        .expect("write");
    assert_eq!(
        read_bin(&mut s).map(|r| (r.1, r.2)),
        Some((0, b"Authenticated".to_vec()))
    );
    s.write_all(&bin(0x01, b"k", &set_extras, b"v", 4, 0))
        .expect("write");
    assert_eq!(read_bin(&mut s).map(|r| r.1), Some(0));
    s.write_all(&bin(0x00, b"k", b"", b"", 5, 0))
        .expect("write");
    assert_eq!(
        read_bin(&mut s).map(|r| (r.1, r.2)),
        Some((0, b"\0\0\0\0v".to_vec()))
    );

    // The text protocol has no authentication: refused.
    let mut t = connect(ferro.port);
    t.write_all(b"get k\r\n").expect("write");
    let mut reply = Vec::new();
    let _ = t.read_to_end(&mut reply);
    assert_eq!(reply, b"CLIENT_ERROR unauthenticated\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_streams_fetches_and_stores_with_connection_ids() {
    let ferro = start_ferrocache(&[]);
    let conns = String::from_utf8(text_exchange(ferro.port, b"stats conns\r\n")).expect("utf8");
    assert!(conns.contains(":addr tcp:127.0.0.1:"), "{conns}");
    let mut watcher = BufReader::new(connect(ferro.port));
    watcher
        .get_mut()
        .write_all(b"watch fetchers mutations\r\n")
        .expect("write");
    let mut line = String::new();
    watcher.read_line(&mut line).expect("ok");
    assert_eq!(line, "OK\r\n");
    text_exchange(ferro.port, b"set wk 0 0 1\r\nx\r\nget wk\r\n");
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut l = String::new();
        watcher.read_line(&mut l).expect("log line");
        lines.push(l);
    }
    assert!(
        lines[0].contains("type=item_get key=wk status=not_found"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("type=item_store key=wk status=stored cmd=set"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("type=item_get key=wk status=found"),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .all(|l| l.starts_with("ts=") && l.contains(" cfd=")));
}

/// One random text or meta command on three keys (no CAS values or times in replies:
/// those differ between servers by construction).
fn random_command(rng: &mut impl rand::Rng) -> Vec<u8> {
    use rand::seq::SliceRandom;
    let key = *[&b"a"[..], b"b", b"c"].choose(rng).expect("key");
    let flags = |rng: &mut _, set: &[&str], max: usize| -> String {
        let n = rand::Rng::gen_range(rng, 0..=max);
        let picked: Vec<&str> = set.choose_multiple(rng, n).copied().collect();
        picked.join(" ")
    };
    let key = String::from_utf8_lossy(key).into_owned();
    let r: f64 = rng.gen();
    let values = ["1", "abc", "", "18446744073709551615", "  5"];
    let line = if r < 0.2 {
        let f = flags(rng, &["v", "s", "f", "k", "q", "O9", "t", "N0", "u"], 4);
        format!("mg {key} {f}\r\n")
    } else if r < 0.45 {
        let v = values.choose(rng).expect("value");
        let f = flags(
            rng,
            &[
                "F3", "q", "k", "O1", "ME", "MA", "MP", "MR", "MS", "T0", "I",
            ],
            3,
        );
        format!("ms {key} {} {f}\r\n{v}\r\n", v.len())
    } else if r < 0.55 {
        let f = flags(rng, &["q", "k", "O2"], 2);
        format!("md {key} {f}\r\n")
    } else if r < 0.75 {
        let f = flags(rng, &["v", "q", "N0", "J7", "D3", "MD", "MI", "k", "t"], 4);
        format!("ma {key} {f}\r\n")
    } else if r < 0.85 {
        let v = ["7", "x", "10"].choose(rng).expect("value");
        let cmd = ["set", "add", "append", "prepend", "replace"]
            .choose(rng)
            .expect("cmd");
        format!("{cmd} {key} 0 0 {}\r\n{v}\r\n", v.len())
    } else if r < 0.95 {
        let cmd = ["incr", "decr"].choose(rng).expect("cmd");
        format!("{cmd} {key} {}\r\n", rng.gen_range(0..20))
    } else {
        "get a b c\r\n".to_string()
    };
    line.into_bytes()
}

#[test]
fn random_pipelines_match_memcached() {
    use rand::{Rng, SeedableRng};
    let p = pair();
    if p.memcached.is_none() {
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d63);
    for i in 0..150 {
        let n = rng.gen_range(1..=12);
        let input: Vec<u8> = (0..n).flat_map(|_| random_command(&mut rng)).collect();
        p.check(&format!("random pipeline {i}"), &input);
    }
}

/// Sends `request` and returns what arrives within `wait` (the connection staying open
/// or not).
fn send_and_collect(s: &mut TcpStream, request: &[u8], wait: Duration) -> Vec<u8> {
    s.write_all(request).expect("write");
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

#[test]
fn ascii_authentication_matches_memcached() {
    let dir = common::TempDir::new("mc-authfile");
    let authfile = dir.path("authfile");
    std::fs::write(&authfile, "alice:secret\nbob:hunter2\n").expect("authfile");
    let path = authfile.to_str().expect("utf8");
    let ferro = start_ferrocache(&["-Y", path]);
    let real = common::start_memcached(&["-Y", path]);
    // Each session is a list of steps, sent one at a time on one connection.
    let sessions: &[&[&[u8]]] = &[
        &[
            b"get a\r\n",
            b"version\r\n",
            b"add x 0 0 12\r\n",
            b"set x 0 0 12\r\nalice secret\r\n",
            b"set a 0 0 1\r\n1\r\nget a\r\n",
        ],
        &[
            b"set x 0 0 9\r\nalice bad\r\n",
            b"set x 0 0 5\r\nalice\r\n",
            b"set x 0 0 3\r\nabcde",
            b"set x 0 0 11 noreply\r\nbob hunter2\r\n",
            b"get a\r\n",
        ],
        &[b"set k 0 0 11\r\nbob ", b"hunter2\r\nmn\r\n"],
    ];
    for steps in sessions {
        let mut f = connect(ferro.port);
        let mut r = connect(real.port);
        for step in *steps {
            let wait = Duration::from_millis(150);
            let ours = send_and_collect(&mut f, step, wait);
            let theirs = send_and_collect(&mut r, step, wait);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "after {:?}",
                String::from_utf8_lossy(step)
            );
        }
    }
    // Pipelined requests before authentication: memcached 1.6.18 sends only the last
    // reply of a batch read together (its replies overwrite each other); every request
    // gets its reply here.
    let mut f = connect(ferro.port);
    let ours = send_and_collect(
        &mut f,
        b"get a\r\nset x 0 0 9\r\nalice bad\r\nset x 0 0 12\r\nalice secret\r\nget a\r\n",
        Duration::from_millis(300),
    );
    assert_eq!(
        String::from_utf8_lossy(&ours),
        "CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR authentication failure\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n"
    );
    // The same sessions count the same: auth_cmds and auth_errors.
    let auth_stats = |port: u16| -> Vec<String> {
        let stats = text_exchange_authenticated(port);
        String::from_utf8_lossy(&stats)
            .lines()
            .filter(|l| l.starts_with("STAT auth_"))
            .map(str::to_string)
            .collect()
    };
    let (ours, theirs) = (auth_stats(ferro.port), auth_stats(real.port));
    assert_eq!(ours.len(), 2, "{ours:?}");
    // Ours also counts the pipelined batch above: two attempts, one failure.
    let counts = |lines: &[String]| -> Vec<u64> {
        lines
            .iter()
            .map(|l| {
                l.rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("count")
            })
            .collect()
    };
    let (o, t) = (counts(&ours), counts(&theirs));
    assert_eq!((o[0], o[1]), (t[0] + 2, t[1] + 1), "{ours:?} {theirs:?}");
}

/// `stats` on a connection that logs in first (as alice).
fn text_exchange_authenticated(port: u16) -> Vec<u8> {
    text_exchange(port, b"set x 0 0 12\r\nalice secret\r\nstats\r\n")
}
