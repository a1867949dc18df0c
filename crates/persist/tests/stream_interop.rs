//! Stream objects against the real redis-server 7.0.15: streams built with
//! Redis's commands are DUMPed, read with `read_stream` and checked against
//! XRANGE and XINFO STREAM FULL; then written back with `write_stream`,
//! RESTOREd (with deep sanitization on) under a new key and compared with
//! the original, byte for byte where our nodes mirror Redis's.
//!
//! Each test starts its own redis-server on a port of 7320-7329 and kills
//! it when done; without redis-server installed the tests are skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use persist::stream::{read_stream, write_stream, RDB_TYPE_STREAM_LISTPACKS_2};
use types::stream::{Stream, StreamId};

#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    fn bytes(&self) -> &[u8] {
        match self {
            Resp::Bulk(Some(b)) => b,
            Resp::Simple(s) => s.as_bytes(),
            other => panic!("not a string: {other:?}"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            Resp::Int(v) => *v,
            other => panic!("not an integer: {other:?}"),
        }
    }

    fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(Some(a)) => a,
            other => panic!("not an array: {other:?}"),
        }
    }

    /// The value after key `name` in a flat key/value array.
    fn field(&self, name: &str) -> &Resp {
        let a = self.items();
        a.chunks(2)
            .find(|kv| kv[0].bytes() == name.as_bytes())
            .map(|kv| &kv[1])
            .unwrap_or_else(|| panic!("no field {name} in {self:?}"))
    }
}

struct Redis {
    child: Child,
    conn: BufReader<TcpStream>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// A redis-server of our own on `port` (deep-sanitizing RESTOREd
    /// payloads), or None when redis-server is not installed.
    fn start(port: u16) -> Option<Redis> {
        let child = match Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--sanitize-dump-payload", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("SKIPPED: redis-server is not installed");
                return None;
            }
            Err(e) => panic!("start redis-server: {e}"),
        };
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut child = Some(child);
        loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                let mut r = Redis {
                    child: child.take().expect("child"),
                    conn: BufReader::new(s),
                };
                let info = r.cmd(&["INFO", "server"]);
                let info = String::from_utf8_lossy(info.bytes()).into_owned();
                assert!(
                    info.contains(&format!("process_id:{pid}\r\n")),
                    "port {port} is served by another redis-server"
                );
                return Some(r);
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn cmd_bytes(&mut self, args: &[&[u8]]) -> Resp {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.conn.get_mut().write_all(&out).expect("write");
        self.read_reply()
    }

    fn cmd(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&args)
    }

    /// A command that must not fail.
    fn ok(&mut self, args: &[&str]) -> Resp {
        let r = self.cmd(args);
        if let Resp::Error(e) = &r {
            panic!("{args:?}: {e}");
        }
        r
    }

    fn read_reply(&mut self) -> Resp {
        let mut line = String::new();
        self.conn.read_line(&mut line).expect("read");
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Resp::Simple(rest.to_string()),
            "-" => Resp::Error(rest.to_string()),
            ":" => Resp::Int(rest.parse().expect("integer")),
            "$" => {
                let n: i64 = rest.parse().expect("length");
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.conn.read_exact(&mut b).expect("bulk");
                b.truncate(n as usize);
                Resp::Bulk(Some(b))
            }
            "*" => {
                let n: i64 = rest.parse().expect("count");
                if n < 0 {
                    return Resp::Array(None);
                }
                Resp::Array(Some((0..n).map(|_| self.read_reply()).collect()))
            }
            _ => panic!("unexpected reply line {line:?}"),
        }
    }
}

fn id_text(id: StreamId) -> String {
    id.to_string()
}

/// DUMPs `key`, reads it, checks it against Redis's own view, writes it
/// back under `key:copy` and checks the copy equals the original. With
/// `same_bytes` our payload must equal Redis's DUMP byte for byte.
fn check_stream(r: &mut Redis, key: &str, same_bytes: bool) -> Stream {
    let payload = r.ok(&["DUMP", key]).bytes().to_vec();
    let (body, version) = rdb::dump::open(&payload).expect("valid DUMP payload");
    assert_eq!(version, 10);
    assert_eq!(body[0], RDB_TYPE_STREAM_LISTPACKS_2, "{key}: object type");
    let mut pos = 1;
    let s = read_stream(body[0], body, &mut pos).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert_eq!(pos, body.len(), "{key}: body fully read");

    // Entries, as XRANGE lists them.
    let xrange = r.ok(&["XRANGE", key, "-", "+"]);
    let ours: Vec<Resp> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .map(|e| {
            let mut pairs = Vec::new();
            for (f, v) in e.pairs() {
                pairs.push(Resp::Bulk(Some(f.to_vec())));
                pairs.push(Resp::Bulk(Some(v.to_vec())));
            }
            Resp::Array(Some(vec![
                Resp::Bulk(Some(id_text(e.id).into_bytes())),
                Resp::Array(Some(pairs)),
            ]))
        })
        .collect();
    assert_eq!(xrange.items(), &ours[..], "{key}: entries");

    // Stream metadata and groups, as XINFO STREAM FULL reports them.
    let info = r.ok(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]);
    assert_eq!(info.field("length").int() as u64, s.len(), "{key}: length");
    assert_eq!(
        info.field("radix-tree-keys").int() as usize,
        s.node_count(),
        "{key}: nodes"
    );
    for (name, id) in [
        ("last-generated-id", s.last_id),
        ("max-deleted-entry-id", s.max_deleted_id),
        ("recorded-first-entry-id", s.first_id),
    ] {
        assert_eq!(
            info.field(name).bytes(),
            id_text(id).as_bytes(),
            "{key}: {name}"
        );
    }
    assert_eq!(
        info.field("entries-added").int() as u64,
        s.entries_added,
        "{key}: entries-added"
    );
    let groups = info.field("groups").items();
    assert_eq!(groups.len(), s.groups.len(), "{key}: groups");
    for (g, (name, ours)) in groups.iter().zip(&s.groups) {
        assert_eq!(g.field("name").bytes(), &**name);
        assert_eq!(
            g.field("last-delivered-id").bytes(),
            id_text(ours.last_id).as_bytes()
        );
        let read = match g.field("entries-read") {
            Resp::Bulk(None) => -1,
            v => v.int(),
        };
        assert_eq!(read, ours.entries_read, "{key}: entries-read");
        let lag = match g.field("lag") {
            Resp::Bulk(None) => None,
            v => Some(v.int()),
        };
        assert_eq!(
            lag,
            s.lag(ours),
            "{key}: lag of {:?}",
            String::from_utf8_lossy(name)
        );
        assert_eq!(g.field("pel-count").int() as usize, ours.pel.len());
        let pending = g.field("pending").items();
        assert_eq!(pending.len(), ours.pel.len());
        for (p, (id, mine)) in pending.iter().zip(&ours.pel) {
            let p = p.items();
            assert_eq!(p[0].bytes(), id_text(*id).as_bytes());
            assert_eq!(p[1].bytes(), &*mine.consumer);
            assert_eq!(p[2].int() as u64, mine.delivery_time);
            assert_eq!(p[3].int() as u64, mine.delivery_count);
        }
        let consumers = g.field("consumers").items();
        assert_eq!(consumers.len(), ours.consumers.len());
        for (c, (cname, mine)) in consumers.iter().zip(&ours.consumers) {
            assert_eq!(c.field("name").bytes(), &**cname);
            assert_eq!(c.field("seen-time").int() as u64, mine.seen_time);
            assert_eq!(mine.active_time, mine.seen_time as i64);
            assert_eq!(c.field("pel-count").int() as usize, mine.pel.len());
            let ids: Vec<&[u8]> = c
                .field("pending")
                .items()
                .iter()
                .map(|p| p.items()[0].bytes())
                .collect();
            let want: Vec<String> = mine.pel.iter().map(|id| id_text(*id)).collect();
            let want: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
            assert_eq!(ids, want);
        }
    }

    // Written back: Redis loads it (deep-sanitized) into the same stream.
    let mut ours = vec![RDB_TYPE_STREAM_LISTPACKS_2];
    write_stream(&mut ours, &s, true);
    if same_bytes {
        assert!(ours == body, "{key}: our body differs from Redis's");
    }
    rdb::dump::seal(&mut ours);
    let copy = format!("{key}:copy");
    r.cmd(&["DEL", &copy]);
    let restored = r.cmd_bytes(&[b"RESTORE", copy.as_bytes(), b"0", &ours]);
    assert_eq!(restored, Resp::Simple("OK".into()), "{key}: RESTORE");
    assert_eq!(
        r.ok(&["XINFO", "STREAM", &copy, "FULL", "COUNT", "0"]),
        info,
        "{key}: XINFO STREAM FULL of the copy"
    );
    assert_eq!(r.ok(&["XRANGE", &copy, "-", "+"]), xrange);
    // Redis's behaviour on both agrees: an approximate trim drops the same
    // whole nodes (node boundaries survived).
    if !s.is_empty() {
        let half = (s.len() / 2).to_string();
        assert_eq!(
            r.ok(&["XTRIM", key, "MAXLEN", "~", &half]),
            r.ok(&["XTRIM", &copy, "MAXLEN", "~", &half]),
            "{key}: approximate trim"
        );
        assert_eq!(
            r.ok(&["XRANGE", &copy, "-", "+"]),
            r.ok(&["XRANGE", key, "-", "+"])
        );
    }
    s
}

/// Values of many encodings: small and large integers, non-canonical
/// numbers, short, 12-bit and 32-bit length strings.
fn value(i: usize) -> String {
    match i % 9 {
        0 => i.to_string(),
        1 => format!("-{}", i * 1000),
        2 => (i as i64 * 1_000_000_007).to_string(),
        3 => i64::MAX.to_string(),
        4 => format!("00{i}"),
        5 => "x".repeat(70 + i % 13),
        6 => "y".repeat(i % 5),
        7 => "z".repeat(if i % 18 == 7 { 5000 } else { 3 }),
        _ => format!("value-{i}-{}", "ab".repeat(i % 17)),
    }
}

#[test]
fn large_stream_with_deletes_trims_and_groups() {
    let Some(mut r) = Redis::start(7320) else {
        return;
    };
    let key = "big";
    for i in 0..400usize {
        let id = format!("{}-{}", 1000 + i / 3, i % 3);
        let v = value(i);
        let mut args = vec!["XADD", key, &id];
        let name = format!("n{}", i % 4);
        let sev = (i % 7).to_string();
        // Mostly the same fields; every 10th entry different ones.
        if i % 10 == 7 {
            args.extend(["other", &v, "17", &sev]);
        } else {
            args.extend(["name", &name, "value", &v, "sev", &sev]);
        }
        r.ok(&args);
    }
    let id = |i: usize| format!("{}-{}", 1000 + i / 3, i % 3);
    // Tombstones: the first entry of the second node, scattered ones, and
    // a whole node's worth (which removes that node).
    let first_of_second = {
        let info = r.ok(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]);
        assert!(info.field("radix-tree-keys").int() >= 4, "several nodes");
        // Entry 100 starts the second node only if the first holds 100.
        id(100)
    };
    r.ok(&["XDEL", key, &first_of_second]);
    for i in (130..170).step_by(7) {
        r.ok(&["XDEL", key, &id(i)]);
    }
    let whole: Vec<String> = (200..300).map(id).collect();
    let mut args = vec!["XDEL", key];
    args.extend(whole.iter().map(|s| s.as_str()));
    r.ok(&args);
    // An exact trim leaves the first node with tombstones at its front.
    r.ok(&["XTRIM", key, "MAXLEN", "290"]);
    // Groups: deliveries, acks, claims, an idle consumer without PEL, a
    // pending entry whose message is deleted, read counters set by hand.
    r.ok(&["XGROUP", "CREATE", key, "g1", "0"]);
    r.ok(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "30",
        "STREAMS",
        key,
        ">",
    ]);
    r.ok(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "20",
        "STREAMS",
        key,
        ">",
    ]);
    let pending = r.ok(&["XPENDING", key, "g1", "-", "+", "100"]);
    let ids: Vec<String> = pending
        .items()
        .iter()
        .map(|p| String::from_utf8_lossy(p.items()[0].bytes()).into_owned())
        .collect();
    assert_eq!(ids.len(), 50);
    r.ok(&["XACK", key, "g1", &ids[0], &ids[3], &ids[40]]);
    r.ok(&[
        "XCLAIM", key, "g1", "carol", "0", &ids[5], &ids[6], &ids[45],
    ]);
    r.ok(&["XGROUP", "CREATECONSUMER", key, "g1", "dave"]);
    r.ok(&["XDEL", key, &ids[7]]);
    r.ok(&["XGROUP", "CREATE", key, "g2", "$"]);
    r.ok(&["XGROUP", "CREATE", key, "g3", &id(350), "ENTRIESREAD", "42"]);
    r.ok(&[
        "XREADGROUP",
        "GROUP",
        "g3",
        "erin",
        "COUNT",
        "3",
        "STREAMS",
        key,
        ">",
    ]);
    let s = check_stream(&mut r, key, true);
    assert!(s.node_count() >= 3);
    assert_eq!(s.groups.len(), 3);
    assert!(s.len() > 100);
}

#[test]
fn varying_field_sets() {
    let Some(mut r) = Redis::start(7321) else {
        return;
    };
    let key = "fields";
    for i in 0..150usize {
        let id = format!("5-{}", i + 1);
        let n = 1 + i % 5;
        let fields: Vec<String> = (0..n)
            .map(|j| match (i + j) % 6 {
                0 => format!("{}", j as i64 - 3),
                1 => String::new(),
                2 => format!("field{j}"),
                3 => "f".repeat(80),
                4 => "007".to_string(),
                _ => format!("{}", 1u64 << 40),
            })
            .collect();
        let values: Vec<String> = (0..n).map(|j| value(i * 7 + j)).collect();
        let mut args = vec!["XADD", key, &id];
        for (f, v) in fields.iter().zip(&values) {
            args.push(f);
            args.push(v);
        }
        r.ok(&args);
    }
    r.ok(&["XDEL", key, "5-1", "5-2", "5-150"]);
    r.ok(&["XGROUP", "CREATE", key, "readers", "5-10"]);
    r.ok(&[
        "XREADGROUP",
        "GROUP",
        "readers",
        "c1",
        "COUNT",
        "4",
        "STREAMS",
        key,
        ">",
    ]);
    check_stream(&mut r, key, true);
}

#[test]
fn ids_counters_and_edge_states() {
    let Some(mut r) = Redis::start(7322) else {
        return;
    };
    // Emptied by XDEL, then XSETID with counters: no nodes, a group.
    r.ok(&["XADD", "empty", "1-1", "a", "1"]);
    r.ok(&["XDEL", "empty", "1-1"]);
    r.ok(&[
        "XSETID",
        "empty",
        "7-7",
        "ENTRIESADDED",
        "100",
        "MAXDELETEDID",
        "3-0",
    ]);
    r.ok(&["XGROUP", "CREATE", "empty", "g", "$", "ENTRIESREAD", "100"]);
    let s = check_stream(&mut r, "empty", true);
    assert_eq!((s.len(), s.node_count(), s.entries_added), (0, 0, 100));

    // Last id, counters and max deleted id moved past the entries.
    for i in 1..=5 {
        r.ok(&["XADD", "setid", &format!("{i}-0"), "k", &i.to_string()]);
    }
    r.ok(&[
        "XSETID",
        "setid",
        "99-5",
        "ENTRIESADDED",
        "1000",
        "MAXDELETEDID",
        "50-0",
    ]);
    let s = check_stream(&mut r, "setid", true);
    assert_eq!(s.last_id, StreamId::new(99, 5));
    assert_eq!(s.max_deleted_id, StreamId::new(50, 0));

    // A node left with only tombstones by an exact MINID trim.
    for i in 1..=3 {
        r.ok(&["XADD", "tombs", &format!("{i}-0"), "k", "v"]);
    }
    r.ok(&["XDEL", "tombs", "3-0"]);
    r.ok(&["XTRIM", "tombs", "MINID", "3-0"]);
    r.ok(&["XADD", "tombs", "4-0", "k", "v"]);
    let s = check_stream(&mut r, "tombs", true);
    assert_eq!(s.len(), 1);

    // XSETID below a trailing tombstone: the tombstone is past the last
    // id, so we drop it (the node differs from Redis's, the stream not).
    r.ok(&["XADD", "below", "1-1", "k", "v"]);
    r.ok(&["XADD", "below", "1-2", "k", "v"]);
    r.ok(&["XDEL", "below", "1-2"]);
    r.ok(&["XSETID", "below", "1-1"]);
    let s = check_stream(&mut r, "below", false);
    assert_eq!(s.last_id, StreamId::new(1, 1));
    assert_eq!(s.len(), 1);

    // Single entry, a consumer group name and consumer names that are
    // integers and long (LZF-compressed) strings.
    r.ok(&["XADD", "one", "1-0", "only", "entry"]);
    let long = "consumer".repeat(10);
    r.ok(&["XGROUP", "CREATE", "one", "12345", "0"]);
    r.ok(&["XREADGROUP", "GROUP", "12345", &long, "STREAMS", "one", ">"]);
    r.ok(&["XGROUP", "CREATECONSUMER", "one", "12345", "-7"]);
    check_stream(&mut r, "one", true);
}

/// xorshift64*: deterministic randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A stream made through the types API (not by Redis): odd node limits,
/// deletes, trims, groups with deliveries, acks and idle consumers.
fn random_stream(seed: u64) -> Stream {
    use types::stream::{Group, NodeLimits, Trim};
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let limits = [(0, 3), (60, 0), (4096, 100), (200, 7)][seed as usize % 4];
    let limits = NodeLimits {
        max_bytes: limits.0,
        max_entries: limits.1,
    };
    let names: [&[u8]; 5] = [
        b"f",
        b"temp",
        b"-3",
        b"",
        b"a-long-field-name-of-some-length",
    ];
    let mut s = Stream::new();
    let mut next = StreamId::new(1_700_000_000_000 + rng.below(1000), rng.below(3));
    for _ in 0..600 {
        let live: Vec<StreamId> = s
            .range(StreamId::MIN, StreamId::MAX, false)
            .map(|e| e.id)
            .collect();
        match rng.below(20) {
            0..=11 => {
                let n = rng.below(4) as usize;
                let values: Vec<Vec<u8>> = (0..n)
                    .map(|j| match rng.below(4) {
                        0 => (rng.next() as i64 >> rng.below(60))
                            .to_string()
                            .into_bytes(),
                        1 => vec![b'v'; rng.below(100) as usize],
                        2 => format!("0{j}").into_bytes(),
                        _ => b"same".to_vec(),
                    })
                    .collect();
                let shift = rng.below(2) as usize;
                let pairs: Vec<(&[u8], &[u8])> = values
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (names[(j + shift) % names.len()], &v[..]))
                    .collect();
                s.append(next, &pairs, limits);
                next = match rng.below(3) {
                    0 => StreamId::new(next.ms + 1 + rng.below(5), 0),
                    _ => StreamId::new(next.ms, next.seq + 1),
                };
            }
            12..=14 if !live.is_empty() => {
                s.delete(live[rng.below(live.len() as u64) as usize]);
            }
            15 => {
                let approx = rng.below(2) == 0;
                s.trim(Trim::MaxLen(50 + rng.below(200)), approx, 0);
            }
            16..=18 if !live.is_empty() => {
                let group: &[u8] = [&b"g1"[..], b"g2", b"1000"][rng.below(3) as usize];
                let consumer: &[u8] = [&b"ann"[..], b"ben", b"7"][rng.below(3) as usize];
                let id = live[rng.below(live.len() as u64) as usize];
                let time = 1_700_000_000_000 + rng.below(1_000_000);
                let g = s
                    .groups
                    .entry(group.into())
                    .or_insert_with(|| Group::new(StreamId::MIN, 0));
                g.consumer(consumer, time);
                g.deliver(id, consumer, time, 1 + rng.below(3));
            }
            _ => {
                if let Some(g) = s.groups.values_mut().next() {
                    if let Some(&id) = g.pel.keys().next() {
                        g.ack(id);
                    }
                    g.consumer(b"idle", 1_700_000_000_000);
                }
            }
        }
    }
    // Groups' positions and counters as XGROUP SETID could leave them.
    let last = s.last_id;
    let added = s.entries_added;
    for (i, g) in s.groups.values_mut().enumerate() {
        g.last_id = last;
        g.entries_read = [added as i64, -1, 3][i % 3];
    }
    s
}

/// Streams we made: Redis loads them (deep-sanitized), reports the same
/// entries, counters and groups, and DUMPs them back to our bytes.
#[test]
fn our_streams_load_in_redis() {
    let Some(mut r) = Redis::start(7323) else {
        return;
    };
    let mut nodes = 0;
    for seed in 0..12u64 {
        let s = random_stream(seed);
        let mut payload = vec![RDB_TYPE_STREAM_LISTPACKS_2];
        write_stream(&mut payload, &s, seed % 2 == 0);
        rdb::dump::seal(&mut payload);
        let key = format!("ours{seed}");
        let reply = r.cmd_bytes(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
        assert_eq!(reply, Resp::Simple("OK".into()), "seed {seed}: RESTORE");
        if seed % 2 == 0 {
            // Redis DUMPs (compressing) exactly what we wrote.
            let dumped = r.ok(&["DUMP", &key]);
            assert!(dumped.bytes() == &payload[..], "seed {seed}: DUMP differs");
        }
        let back = check_stream(&mut r, &key, true);
        nodes += back.node_count();
        let before: Vec<_> = s.node_stats().collect();
        let after: Vec<_> = back.node_stats().collect();
        assert!(before == after, "seed {seed}: nodes");
        assert_eq!(back.len(), s.len());
        assert_eq!(back.entries_added, s.entries_added);
        assert_eq!(back.groups.len(), s.groups.len());
    }
    assert!(nodes > 50, "{nodes} nodes in all");
}
