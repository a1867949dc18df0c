//! Clients and lifecycle end to end: AUTH/requirepass, maxclients, the CLIENT
//! family, MONITOR, SHUTDOWN and signals, redis-cli, INFO/TIME/LASTSAVE,
//! SLOWLOG, DEBUG SLEEP and OBJECT FREQ.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{info_field, show, start_ferrocache, start_redis, wait_until, Proc, Raw};

/// `:N\r\n` -> N.
fn int(reply: &[u8]) -> i64 {
    let s = std::str::from_utf8(reply).unwrap();
    assert!(s.starts_with(':'), "not an integer reply: {s}");
    s[1..].trim_end().parse().unwrap()
}

/// The text of a bulk (or verbatim) string reply.
fn bulk_text(reply: &[u8]) -> String {
    let s = String::from_utf8_lossy(reply).into_owned();
    assert!(s.starts_with('$') || s.starts_with('='), "not a bulk: {s}");
    let body = &s[s.find("\r\n").unwrap() + 2..s.len() - 2];
    body.to_string()
}

fn info(c: &mut Raw, section: &str) -> String {
    bulk_text(&c.call(&["INFO", section]))
}

/// `key=value` fields of one CLIENT LIST / CLIENT INFO line.
fn client_fields(line: &str) -> std::collections::HashMap<String, String> {
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The peer address (`ip:port`) the server sees for this connection.
fn local_addr(c: &Raw) -> String {
    c.stream.local_addr().unwrap().to_string()
}

#[test]
fn requirepass_auth_and_hello() {
    let node = start_ferrocache(&["--requirepass", "s3cret"]);
    let mut c = node.raw();
    assert_eq!(
        show(&c.call(&["GET", "k"])),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        show(&c.call(&["SET", "k", "v"])),
        "-NOAUTH Authentication required.\r\n"
    );
    // Allowed before AUTH.
    assert_eq!(c.call(&["PING"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(
        show(&c.call(&["AUTH", "wrong"])),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        show(&c.call(&["AUTH", "default", "wrong"])),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        show(&c.call(&["AUTH", "nosuchuser", "s3cret"])),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.call(&["AUTH", "s3cret"]), b"+OK\r\n");
    assert_eq!(c.call(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]), b"$1\r\nv\r\n");

    // HELLO before authenticating is refused; HELLO 3 AUTH logs in.
    let mut h = node.raw();
    let r = show(&h.call(&["HELLO", "3"]));
    assert!(
        r.starts_with("-NOAUTH HELLO must be called with the client already authenticated"),
        "{r}"
    );
    assert_eq!(
        show(&h.call(&["HELLO", "3", "AUTH", "default", "nope"])),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let r = h.call(&[
        "HELLO",
        "3",
        "AUTH",
        "default",
        "s3cret",
        "SETNAME",
        "hello-client",
    ]);
    assert!(r.starts_with(b"%7\r\n"), "{}", show(&r));
    assert_eq!(h.call(&["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(h.call(&["CLIENT", "GETNAME"]), b"$12\r\nhello-client\r\n");

    // The redis crate with credentials in the URL (AUTH on connect).
    let url = format!("redis://:s3cret@127.0.0.1:{}/", node.port);
    let mut rc = redis::Client::open(url).unwrap().get_connection().unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut rc).unwrap();
    assert_eq!(v, "v");
    let url = format!(
        "redis://default:s3cret@127.0.0.1:{}/?protocol=resp3",
        node.port
    );
    let mut rc = redis::Client::open(url).unwrap().get_connection().unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut rc).unwrap();
    assert_eq!(v, "v");
    let bad = format!("redis://:wrong@127.0.0.1:{}/", node.port);
    assert!(redis::Client::open(bad).unwrap().get_connection().is_err());

    // The same conversation with a real redis-server.
    let redis = start_redis();
    assert_eq!(
        redis
            .raw()
            .call(&["CONFIG", "SET", "requirepass", "s3cret"]),
        b"+OK\r\n"
    );
    let script: &[&[&str]] = &[
        &["GET", "k"],
        &["PING"],
        &["HELLO", "3", "AUTH", "default", "nope"],
        &["HELLO", "3", "AUTH", "default"],
        &["AUTH", "wrong"],
        &["AUTH", "nosuchuser", "s3cret"],
        &["AUTH", "a", "b", "c"],
        &["AUTH", "s3cret"],
        &["SET", "k", "v"],
        &["AUTH", "default", "s3cret"],
        &["GET", "k"],
    ];
    let mut ours = node.raw();
    let mut theirs = redis.raw();
    for cmd in script {
        assert_eq!(show(&ours.call(cmd)), show(&theirs.call(cmd)), "{cmd:?}");
    }

    // RESET logs out again.
    assert_eq!(c.call(&["RESET"]), b"+RESET\r\n");
    assert_eq!(
        show(&c.call(&["GET", "k"])),
        "-NOAUTH Authentication required.\r\n"
    );
}

#[test]
fn auth_without_requirepass_matches_redis() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    for cmd in [
        &["AUTH", "x"][..],
        &["AUTH", "default", "anything"],
        &["AUTH", "a", "b", "c"],
    ] {
        assert_eq!(
            show(&ferro.raw().call(cmd)),
            show(&redis.raw().call(cmd)),
            "{cmd:?}"
        );
    }
}

#[test]
fn maxclients_refuses_the_extra_connection() {
    let node = start_ferrocache(&["--maxclients", "2"]);
    let mut a = node.raw();
    let mut b = node.raw();
    // Both are registered once they have been served.
    assert_eq!(a.call(&["PING"]), b"+PONG\r\n");
    assert_eq!(b.call(&["PING"]), b"+PONG\r\n");
    let mut third = node.raw();
    assert_eq!(
        show(&third.read_until_eof()),
        "-ERR max number of clients reached\r\n"
    );
    let stats = info(&mut a, "stats");
    assert_eq!(
        info_field(&stats, "rejected_connections").as_deref(),
        Some("1")
    );
    let clients = info(&mut a, "clients");
    assert_eq!(
        info_field(&clients, "connected_clients").as_deref(),
        Some("2")
    );
    assert_eq!(info_field(&clients, "maxclients").as_deref(), Some("2"));
    // Once one leaves, a new client gets in.
    drop(b);
    let port = node.port;
    wait_until(Duration::from_secs(10), "a free client slot", || {
        let mut c = Raw::connect(port);
        c.send(b"PING\r\n");
        c.try_read_reply()
            .map(|r| r == b"+PONG\r\n")
            .unwrap_or(false)
    });
    // Raising the limit at runtime lets more in.
    assert_eq!(a.call(&["CONFIG", "SET", "maxclients", "10"]), b"+OK\r\n");
    let mut extra: Vec<Raw> = (0..5).map(|_| node.raw()).collect();
    for c in &mut extra {
        assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
    }
}

#[test]
fn client_id_name_info_list_setinfo() {
    let node = start_ferrocache(&[]);
    let mut a = node.raw();
    let mut b = node.raw();
    let id_a = int(&a.call(&["CLIENT", "ID"]));
    let id_b = int(&b.call(&["CLIENT", "ID"]));
    // (Ordering by connection time: see client_ids_follow_connection_order.)
    assert!(id_a > 0 && id_b > 0 && id_a != id_b, "{id_a} {id_b}");
    assert_eq!(a.call(&["CLIENT", "GETNAME"]), b"$-1\r\n");
    assert_eq!(a.call(&["CLIENT", "SETNAME", "alice"]), b"+OK\r\n");
    assert_eq!(a.call(&["CLIENT", "GETNAME"]), b"$5\r\nalice\r\n");
    assert_eq!(
        show(&a.call(&["CLIENT", "SETNAME", "has space"])),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        a.call(&["CLIENT", "SETINFO", "lib-name", "mylib"]),
        b"+OK\r\n"
    );
    assert_eq!(
        a.call(&["CLIENT", "SETINFO", "LIB-VER", "1.2.3"]),
        b"+OK\r\n"
    );
    assert_eq!(
        show(&a.call(&["CLIENT", "SETINFO", "lib-foo", "x"])),
        "-ERR Unrecognized option 'lib-foo'\r\n"
    );
    assert_eq!(a.call(&["SELECT", "3"]), b"+OK\r\n");

    let line = bulk_text(&a.call(&["CLIENT", "INFO"]));
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{line:?}"
    );
    let f = client_fields(line.trim_end());
    assert_eq!(f["id"], id_a.to_string());
    assert_eq!(f["addr"], local_addr(&a));
    assert_eq!(f["laddr"], format!("127.0.0.1:{}", node.port));
    assert_eq!(f["name"], "alice");
    assert_eq!(f["db"], "3");
    assert_eq!(f["cmd"], "client|info");
    assert_eq!(f["lib-name"], "mylib");
    assert_eq!(f["lib-ver"], "1.2.3");
    assert_eq!(f["resp"], "2");
    assert_eq!(f["flags"], "N");
    assert_eq!(f["user"], "default");

    let list = bulk_text(&b.call(&["CLIENT", "LIST"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let by_id = |id: i64| {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("id={id} ")))
            .unwrap_or_else(|| panic!("no id {id} in {list}"));
        client_fields(line)
    };
    let fa = by_id(id_a);
    let fb = by_id(id_b);
    assert_eq!(fa["id"], id_a.to_string());
    assert_eq!(fa["name"], "alice");
    assert_eq!(fa["cmd"], "client|info");
    assert_eq!(fb["id"], id_b.to_string());
    assert_eq!(fb["addr"], local_addr(&b));
    assert_eq!(fb["cmd"], "client|list");
    let only_b = bulk_text(&a.call(&["CLIENT", "LIST", "ID", &id_b.to_string()]));
    assert_eq!(only_b.lines().count(), 1);
    assert!(only_b.starts_with(&format!("id={id_b} ")), "{only_b}");
    let normal = bulk_text(&a.call(&["CLIENT", "LIST", "TYPE", "normal"]));
    assert_eq!(normal.lines().count(), 2);
    let pubsub = bulk_text(&a.call(&["CLIENT", "LIST", "TYPE", "pubsub"]));
    assert_eq!(pubsub, "");
    assert_eq!(
        show(&a.call(&["CLIENT", "LIST", "TYPE", "bogus"])),
        "-ERR Unknown client type 'bogus'\r\n"
    );
    // A departed client disappears from the list.
    drop(b);
    wait_until(Duration::from_secs(10), "b gone from CLIENT LIST", || {
        bulk_text(&a.call(&["CLIENT", "LIST"])).lines().count() == 1
    });
}

/// Redis: "if the ID is greater than another ID then it was created later".
#[test]

fn client_ids_follow_connection_order() {
    let node = start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let mut conns: Vec<Raw> = Vec::new();
    for _ in 0..40 {
        conns.push(node.raw());
    }
    let ids: Vec<i64> = conns
        .iter_mut()
        .map(|c| int(&c.call(&["CLIENT", "ID"])))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[test]
fn client_errors_match_redis() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let script: &[&[&str]] = &[
        &["CLIENT", "KILL", "127.0.0.1:1"],
        &["CLIENT", "KILL", "ID", "0"],
        &["CLIENT", "KILL", "ID", "999999"],
        &["CLIENT", "KILL", "ADDR", "127.0.0.1:1"],
        &["CLIENT", "KILL", "ID"],
        &["CLIENT", "KILL", "BOGUS", "x"],
        &["CLIENT", "KILL", "TYPE", "bogus"],
        &["CLIENT", "KILL", "SKIPME", "maybe"],
        &["CLIENT", "PAUSE", "-1"],
        &["CLIENT", "PAUSE", "abc"],
        &["CLIENT", "PAUSE", "10", "SOME"],
        &["CLIENT", "PAUSE", "abc", "SOME"],
        &["CLIENT", "PAUSE", "-1", "WRITE"],
        &["CLIENT", "PAUSE", "10", "WRITE", "extra"],
        &["CLIENT", "REPLY", "ON", "extra"],
        &["CLIENT", "KILL", "127.0.0.1:1", "extra"],
        &["CLIENT", "NO-EVICT", "maybe"],
        &["CLIENT", "REPLY", "MAYBE"],
        &["CLIENT", "SETNAME", "a\nb"],
        &["CLIENT", "NOSUCH"],
        &["CLIENT", "LIST", "ID", "abc"],
        &["CLIENT", "UNBLOCK", "99999"],
        &["CLIENT", "UNBLOCK", "1", "MAYBE"],
        &["CLIENT", "GETNAME", "extra"],
    ];
    let mut a = ferro.raw();
    let mut b = redis.raw();
    for cmd in script {
        assert_eq!(show(&a.call(cmd)), show(&b.call(cmd)), "{cmd:?}");
    }
}

#[test]
fn client_kill_by_id_addr_and_old_style() {
    let node = start_ferrocache(&[]);
    let mut admin = node.raw();

    let mut v1 = node.raw();
    let id1 = int(&v1.call(&["CLIENT", "ID"]));
    assert_eq!(
        admin.call(&["CLIENT", "KILL", "ID", &id1.to_string()]),
        b":1\r\n"
    );
    assert_eq!(v1.read_until_eof(), b"");

    let mut v2 = node.raw();
    assert_eq!(v2.call(&["PING"]), b"+PONG\r\n");
    let addr2 = local_addr(&v2);
    assert_eq!(admin.call(&["CLIENT", "KILL", "ADDR", &addr2]), b":1\r\n");
    assert_eq!(v2.read_until_eof(), b"");

    let mut v3 = node.raw();
    assert_eq!(v3.call(&["PING"]), b"+PONG\r\n");
    let addr3 = local_addr(&v3);
    assert_eq!(admin.call(&["CLIENT", "KILL", &addr3]), b"+OK\r\n");
    assert_eq!(v3.read_until_eof(), b"");
    // Gone: killing again finds nothing.
    wait_until(Duration::from_secs(10), "v3 unregistered", || {
        admin.call(&["CLIENT", "KILL", &addr3]) == b"-ERR No such client\r\n"
    });

    // Filters combine; SKIPME defaults to yes.
    let mut v4 = node.raw();
    let id4 = int(&v4.call(&["CLIENT", "ID"]));
    let me = int(&admin.call(&["CLIENT", "ID"]));
    assert_eq!(
        admin.call(&["CLIENT", "KILL", "ID", &me.to_string()]),
        b":0\r\n"
    );
    assert_eq!(
        admin.call(&[
            "CLIENT",
            "KILL",
            "ID",
            &id4.to_string(),
            "ADDR",
            "1.2.3.4:5"
        ]),
        b":0\r\n"
    );
    assert_eq!(v4.call(&["PING"]), b"+PONG\r\n");
    // Only admin and v4 are left once the killed ones are unregistered.
    wait_until(Duration::from_secs(10), "killed clients gone", || {
        bulk_text(&admin.call(&["CLIENT", "LIST"])).lines().count() == 2
    });
    assert_eq!(
        admin.call(&["CLIENT", "KILL", "TYPE", "normal", "USER", "default"]),
        b":1\r\n"
    );
    assert_eq!(v4.read_until_eof(), b"");
    assert_eq!(admin.call(&["PING"]), b"+PONG\r\n");
    // Killing yourself (SKIPME no): the reply is sent, then the connection closes.
    let me = int(&admin.call(&["CLIENT", "ID"]));
    admin.cmd(&[
        b"CLIENT",
        b"KILL",
        b"ID",
        me.to_string().as_bytes(),
        b"SKIPME",
        b"no",
    ]);
    assert_eq!(admin.read_reply(), b":1\r\n");
    assert_eq!(admin.read_until_eof(), b"");
}

#[test]
fn client_pause_write_holds_writes_until_unpause() {
    let node = start_ferrocache(&[]);
    let mut admin = node.raw();
    let mut writer = node.raw();
    let mut reader = node.raw();
    assert_eq!(admin.call(&["SET", "k", "before"]), b"+OK\r\n");
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "100000", "WRITE"]),
        b"+OK\r\n"
    );
    writer.cmd(&[b"SET", b"k", b"after"]);
    // Reads proceed while the write is held.
    assert_eq!(reader.call(&["GET", "k"]), b"$6\r\nbefore\r\n");
    assert_eq!(reader.call(&["PING"]), b"+PONG\r\n");
    // The SET has not been answered (nor applied).
    assert_eq!(writer.read_for(Duration::from_millis(300)), b"");
    assert_eq!(reader.call(&["GET", "k"]), b"$6\r\nbefore\r\n");
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(writer.read_reply(), b"+OK\r\n");
    assert_eq!(reader.call(&["GET", "k"]), b"$5\r\nafter\r\n");

    // CLIENT PAUSE (ALL) holds reads too; it ends by itself after the timeout.
    let start = Instant::now();
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "300"]), b"+OK\r\n");
    assert_eq!(reader.call(&["GET", "k"]), b"$5\r\nafter\r\n");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "GET was not held by CLIENT PAUSE ALL"
    );
}

#[test]
fn client_reply_skip() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    c.cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    c.cmd(&[b"INCR", b"a"]);
    c.cmd(&[b"INCR", b"a"]);
    // Neither SKIP nor the command after it answer.
    assert_eq!(c.read_reply(), b":2\r\n");
    assert_eq!(c.call(&["GET", "a"]), b"$1\r\n2\r\n");
    assert_eq!(c.read_for(Duration::from_millis(100)), b"");
}

#[test]
fn client_reply_off_silences_everything_even_skip() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    c.cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
    c.cmd(&[b"SET", b"a", b"1"]);
    c.cmd(&[b"GET", b"a"]);
    c.cmd(&[b"NOSUCHCOMMAND"]);
    // SKIP while OFF does nothing: replies stay off afterwards.
    c.cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    c.cmd(&[b"INCR", b"a"]);
    c.cmd(&[b"INCR", b"a"]);
    c.cmd(&[b"PING"]);
    let mut other = node.raw();
    wait_until(Duration::from_secs(10), "both INCRs applied", || {
        other.call(&["GET", "a"]) == b"$1\r\n3\r\n"
    });
    assert_eq!(c.read_for(Duration::from_millis(200)), b"");
}

/// CLIENT REPLY ON answers +OK (Redis clears OFF before replying).
#[test]
fn client_reply_on_after_off_answers_ok() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let run = |node: &Proc| -> Vec<u8> {
        let mut c = node.raw();
        c.cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
        c.cmd(&[b"SET", b"a", b"1"]);
        c.cmd(&[b"CLIENT", b"REPLY", b"ON"]);
        c.cmd(&[b"GET", b"a"]);
        let mut out = c.read_reply();
        out.extend(c.read_reply());
        out
    };
    let theirs = run(&redis);
    assert_eq!(show(&theirs), "+OK\r\n$1\r\n1\r\n");
    assert_eq!(show(&run(&ferro)), show(&theirs));
}

/// One MONITOR line: `+<secs>.<usec> [<db> <addr>] "arg" ...`.
fn assert_monitor_line(line: &str, db: u32, addr: &str, args: &str) {
    let rest = line.strip_prefix('+').unwrap_or_else(|| panic!("{line}"));
    let (ts, rest) = rest.split_once(' ').unwrap();
    let (secs, usec) = ts.split_once('.').unwrap();
    let secs: u64 = secs.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs + 60 > now && secs <= now + 1, "{line}");
    assert_eq!(usec.len(), 6, "{line}");
    assert!(usec.bytes().all(|c| c.is_ascii_digit()), "{line}");
    assert_eq!(rest, format!("[{db} {addr}] {args}"), "{line}");
}

#[test]
fn monitor_streams_other_clients_commands() {
    let node = start_ferrocache(&["--requirepass", "pw"]);
    let mut m = node.raw();
    assert_eq!(m.call(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(m.call(&["MONITOR"]), b"+OK\r\n");
    let mut c = node.raw();
    let addr = local_addr(&c);
    assert_eq!(c.call(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(c.call(&["set", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.call(&["SELECT", "2"]), b"+OK\r\n");
    c.cmd(&[b"GET", b"with \"quotes\"\n\x01"]);
    assert_eq!(c.read_reply(), b"$-1\r\n");
    assert!(!c.call(&["CONFIG", "GET", "hz"]).is_empty());
    assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
    // AUTH is shown redacted; admin commands (CONFIG) are not shown.
    let lines: Vec<String> = (0..5).map(|_| m.read_text_line()).collect();
    assert_monitor_line(&lines[0], 0, &addr, "\"AUTH\" \"(redacted)\"");
    assert_monitor_line(&lines[1], 0, &addr, "\"set\" \"k\" \"v\"");
    // (Which db Redis shows for SELECT itself: see monitor_select_and_hello_match_redis.)
    assert!(lines[2].ends_with("\"SELECT\" \"2\""), "{}", lines[2]);
    assert_monitor_line(
        &lines[3],
        2,
        &addr,
        "\"GET\" \"with \\\"quotes\\\"\\n\\x01\"",
    );
    assert_monitor_line(&lines[4], 2, &addr, "\"PING\"");
    assert_eq!(m.read_for(Duration::from_millis(100)), b"");
}

#[test]
fn monitor_format_matches_redis() {
    // The same commands through redis-server's MONITOR: identical but for
    // the timestamp and the client's port.
    fn lines_from(node: &Proc) -> Vec<String> {
        let mut m = node.raw();
        assert_eq!(m.call(&["MONITOR"]), b"+OK\r\n");
        let mut c = node.raw();
        let addr = local_addr(&c);
        c.call(&["set", "k", "v w"]);
        c.cmd(&[b"SET", b"bin", b"\x00\xff\r\n\t\x07\x08\\"]);
        c.read_reply();
        c.call(&["INCRBYFLOAT", "f", "1.5"]);
        c.call(&["ECHO", "\u{e9}"]);
        (0..4)
            .map(|_| {
                let l = m.read_text_line();
                let rest = l.split_once(' ').unwrap().1.to_string();
                rest.replace(&addr, "ADDR")
            })
            .collect()
    }
    let ours = lines_from(&start_ferrocache(&[]));
    let theirs = lines_from(&start_redis());
    assert_eq!(ours, theirs);
}

/// MONITOR lines of commands whose display differs from Redis today.
#[test]

fn monitor_select_and_hello_match_redis() {
    fn lines_from(node: &Proc) -> Vec<String> {
        let mut m = node.raw();
        assert_eq!(m.call(&["MONITOR"]), b"+OK\r\n");
        let mut c = node.raw();
        let addr = local_addr(&c);
        c.call(&["HELLO", "3"]);
        c.call(&["HELLO", "2", "AUTH", "default", "anything"]);
        c.call(&["HELLO", "3", "SETNAME", "x"]);
        c.call(&["SELECT", "2"]);
        c.call(&["GET", "a"]);
        (0..5)
            .map(|_| {
                let l = m.read_text_line();
                l.split_once(' ').unwrap().1.replace(&addr, "ADDR")
            })
            .collect()
    }
    let ours = lines_from(&start_ferrocache(&[]));
    let theirs = lines_from(&start_redis());
    assert_eq!(ours, theirs);
}

/// Scripts and functions: the EVAL / FCALL line first, then the commands
/// they ran, from "lua", as redis-server shows them.
#[test]
fn monitor_shows_scripts_before_their_commands_as_redis() {
    fn lines_from(node: &Proc) -> Vec<String> {
        let mut c = node.raw();
        c.call(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=mon\nredis.register_function('setter', function(k, a) return redis.call('set', k[1], a[1]) end)",
        ]);
        let mut m = node.raw();
        assert_eq!(m.call(&["MONITOR"]), b"+OK\r\n");
        let addr = local_addr(&c);
        c.call(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'x'); return redis.call('select', '1')",
            "1",
            "k",
        ]);
        c.call(&["FCALL", "setter", "1", "f", "v"]);
        c.call(&["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"]);
        let lines: Vec<String> = (0..7)
            .map(|_| {
                let l = m.read_text_line();
                l.split_once(' ').unwrap().1.replace(&addr, "ADDR")
            })
            .collect();
        c.call(&["FUNCTION", "DELETE", "mon"]);
        lines
    }
    let ours = lines_from(&start_ferrocache(&[]));
    let theirs = lines_from(&start_redis());
    assert_eq!(ours, theirs);
}

#[test]
fn quit_replies_then_closes() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    c.send(b"PING\r\nQUIT\r\nPING\r\n");
    assert_eq!(c.read_until_eof(), b"+PONG\r\n+OK\r\n");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let node = start_ferrocache(&["--timeout", "1"]);
    let mut idle = node.raw();
    assert_eq!(idle.call(&["PING"]), b"+PONG\r\n");
    let start = Instant::now();
    // Closed by the server (read_until_eof panics after its 10 s read timeout).
    assert_eq!(idle.read_until_eof(), b"");
    assert!(start.elapsed() >= Duration::from_millis(900));
    // A MONITOR client is exempt, and new clients are served.
    let mut m = node.raw();
    assert_eq!(m.call(&["MONITOR"]), b"+OK\r\n");
    assert_eq!(m.read_for(Duration::from_millis(2500)), b"");
    let mut c = node.raw();
    assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
    let line = m.read_text_line();
    assert!(line.ends_with("\"PING\""), "{line}");
}

#[test]
fn shutdown_exits_with_status_zero() {
    let mut node = start_ferrocache(&[]);
    let mut c = node.raw();
    assert_eq!(c.call(&["SET", "k", "v"]), b"+OK\r\n");
    c.cmd(&[b"SHUTDOWN"]);
    // No reply: the connection just closes.
    assert_eq!(c.read_until_eof(), b"");
    let status = node
        .wait_exit(Duration::from_secs(20))
        .expect("still running after SHUTDOWN");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn shutdown_abort_without_shutdown_errors() {
    let node = start_ferrocache(&[]);
    let redis = start_redis();
    for cmd in [
        &["SHUTDOWN", "ABORT"][..],
        &["SHUTDOWN", "BOGUS"],
        &["SHUTDOWN", "NOSAVE", "SAVE"],
        &["SHUTDOWN", "ABORT", "NOW"],
        &["SHUTDOWN", "NOW", "ABORT"],
    ] {
        assert_eq!(
            show(&node.raw().call(cmd)),
            show(&redis.raw().call(cmd)),
            "{cmd:?}"
        );
    }
    // None of them shut the node down.
    assert_eq!(node.raw().call(&["PING"]), b"+PONG\r\n");
}

fn signal_exits_zero(sig: libc::c_int) {
    let mut node = start_ferrocache(&[]);
    let mut c = node.raw();
    assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
    // SAFETY: sending a signal to our own child process, by its pid.
    let rc = unsafe { libc::kill(node.child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0);
    let status = node
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running after signal {sig}"));
    assert!(status.success(), "signal {sig}: exit status {status}");
    // Connected clients see the connection close.
    assert_eq!(c.read_until_eof(), b"");
}

#[test]
fn sigterm_exits_zero() {
    signal_exits_zero(libc::SIGTERM);
}

#[test]
fn sigint_exits_zero() {
    signal_exits_zero(libc::SIGINT);
}

fn have_redis_cli() -> bool {
    Command::new("redis-cli")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_works() {
    if !have_redis_cli() {
        eprintln!("redis-cli not installed: skipped");
        return;
    }
    let node = start_ferrocache(&[]);
    assert_eq!(redis_cli(node.port, &["ping"]), "PONG\n");
    assert_eq!(redis_cli(node.port, &["--no-raw", "set", "a", "b"]), "OK\n");
    assert_eq!(redis_cli(node.port, &["--no-raw", "get", "a"]), "\"b\"\n");
    assert_eq!(
        redis_cli(node.port, &["--no-raw", "get", "nope"]),
        "(nil)\n"
    );
    assert_eq!(
        redis_cli(node.port, &["--no-raw", "incr", "n"]),
        "(integer) 1\n"
    );
    assert_eq!(
        redis_cli(node.port, &["--no-raw", "mget", "a", "nope"]),
        "1) \"b\"\n2) (nil)\n"
    );
    assert_eq!(
        redis_cli(node.port, &["--no-raw", "incr", "a"]),
        "(error) ERR value is not an integer or out of range\n"
    );
    assert_eq!(
        redis_cli(node.port, &["-3", "--no-raw", "get", "nope"]),
        "(nil)\n"
    );
    assert_eq!(redis_cli(node.port, &["dbsize"]), "2\n");
    let info = redis_cli(node.port, &["info", "server"]);
    assert!(info.contains("redis_version:7.2.4"), "{info}");
    // Commands from stdin (pipe mode of the interactive client).
    let mut child = Command::new("redis-cli")
        .args(["-p", &node.port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"set x 1\nincrby x 41\nget x\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n42\n42\n");
}

#[test]
fn info_has_real_numbers() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let mut other = node.raw();
    assert_eq!(other.call(&["PING"]), b"+PONG\r\n");
    let clients = info(&mut c, "clients");
    let connected: u64 = info_field(&clients, "connected_clients")
        .unwrap()
        .parse()
        .unwrap();
    assert!(connected >= 2, "{clients}");
    let n = |c: &mut Raw| -> u64 {
        info_field(&info(c, "stats"), "total_commands_processed")
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = n(&mut c);
    for i in 0..10 {
        c.call(&["SET", &format!("k{i}"), "v"]);
    }
    c.call(&["SET", "e1", "v", "EX", "100"]);
    c.call(&["SET", "e2", "v", "PX", "100000"]);
    let after = n(&mut c);
    assert!(after >= before + 12, "{before} -> {after}");
    let ks = info(&mut c, "keyspace");
    assert!(ks.contains("\r\ndb0:keys=12,expires=2,avg_ttl="), "{ks:?}");
    assert_eq!(c.call(&["SELECT", "5"]), b"+OK\r\n");
    c.call(&["SET", "x", "y"]);
    let ks = info(&mut c, "keyspace");
    assert!(ks.contains("\r\ndb5:keys=1,expires=0,avg_ttl="), "{ks:?}");

    let server = info(&mut c, "server");
    assert_eq!(
        info_field(&server, "redis_version").as_deref(),
        Some("7.2.4")
    );
    assert_eq!(info_field(&server, "tcp_port"), Some(node.port.to_string()));
    assert_eq!(
        info_field(&server, "process_id"),
        Some(node.child.id().to_string())
    );
    let stats = info(&mut c, "stats");
    let conns: u64 = info_field(&stats, "total_connections_received")
        .unwrap()
        .parse()
        .unwrap();
    assert!(conns >= 2, "{stats}");
    let input: u64 = info_field(&stats, "total_net_input_bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(input > 100, "{stats}");
    let memory = info(&mut c, "memory");
    let used: u64 = info_field(&memory, "used_memory").unwrap().parse().unwrap();
    assert!(used > 0, "{memory}");
    // Default INFO has the default sections; INFO everything has commandstats.
    let all = info(&mut c, "default");
    for s in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(all.contains(s), "{s} missing");
    }
    assert!(!all.contains("# Commandstats"));
    let everything = info(&mut c, "everything");
    assert!(everything.contains("cmdstat_set:calls=13,"), "{everything}");
}

#[test]
fn info_sections_come_in_redis_order() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let headers = |node: &Proc, args: &[&str]| -> Vec<String> {
        let mut c = node.raw();
        let mut cmd = vec!["INFO"];
        cmd.extend_from_slice(args);
        bulk_text(&c.call(&cmd))
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    for args in [
        &[][..],
        &["default"],
        &["all"],
        &["everything"],
        &["keyspace", "cpu", "server"],
        &["KEYSPACE", "Clients"],
        &["commandstats", "stats"],
        &["errorstats", "server", "errorstats"],
        &["nosuchsection"],
    ] {
        assert_eq!(
            headers(&ferro, args),
            headers(&redis, args),
            "INFO {args:?}"
        );
    }
    assert_eq!(ferro.raw().call(&["INFO", "nosuch"]), b"$0\r\n\r\n");
}

#[test]
fn time_and_lastsave() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let r = String::from_utf8(c.call(&["TIME"])).unwrap();
    let parts: Vec<&str> = r.split("\r\n").collect();
    assert_eq!(parts[0], "*2", "{r}");
    let secs: u64 = parts[2].parse().unwrap();
    let usec: u64 = parts[4].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2, "{secs} vs {now}");
    assert!(usec < 1_000_000);
    let lastsave = int(&c.call(&["LASTSAVE"])) as u64;
    assert!(lastsave <= now + 1 && lastsave + 120 > now, "{lastsave}");
}

#[test]
fn slowlog_records_commands_with_arguments() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        b"+OK\r\n"
    );
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), b"+OK\r\n");
    assert_eq!(c.call(&["CLIENT", "SETNAME", "slowpoke"]), b"+OK\r\n");
    assert_eq!(c.call(&["SET", "slowkey", "slowvalue"]), b"+OK\r\n");
    let r = String::from_utf8(c.call(&["SLOWLOG", "GET", "1"])).unwrap();
    // [[id, time, duration, [args...], addr, name]]
    let addr = local_addr(&c);
    let want_tail = format!(
        "*3\r\n$3\r\nSET\r\n$7\r\nslowkey\r\n$9\r\nslowvalue\r\n${}\r\n{addr}\r\n$8\r\nslowpoke\r\n",
        addr.len()
    );
    assert!(r.starts_with("*1\r\n*6\r\n:"), "{r}");
    assert!(r.ends_with(&want_tail), "{r}");
    // CLIENT SETNAME, SET and SLOWLOG GET (at least) are logged.
    let len = int(&c.call(&["SLOWLOG", "LEN"]));
    assert!(len >= 3, "{len}");
    // Long arguments are cut, many arguments summarized.
    let long = "x".repeat(200);
    c.call(&["ECHO", &long]);
    let r = String::from_utf8(c.call(&["SLOWLOG", "GET", "1"])).unwrap();
    assert!(
        r.contains(&format!("{}... (72 more bytes)", "x".repeat(128))),
        "{r}"
    );
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), b"+OK\r\n");
    // SLOWLOG RESET itself may be logged once it finished.
    assert!(int(&c.call(&["SLOWLOG", "LEN"])) <= 1);
    // Back to the default threshold: fast commands are not logged.
    assert_eq!(
        c.call(&["CONFIG", "SET", "slowlog-log-slower-than", "1000000"]),
        b"+OK\r\n"
    );
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), b"+OK\r\n");
    c.call(&["GET", "slowkey"]);
    assert_eq!(c.call(&["SLOWLOG", "LEN"]), b":0\r\n");
    assert_eq!(
        show(&c.call(&["SLOWLOG", "GET", "-2"])),
        "-ERR count should be greater than or equal to -1\r\n"
    );
}

#[test]
fn debug_sleep_and_slowlog_of_it() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), b"+OK\r\n");
    let start = Instant::now();
    assert_eq!(c.call(&["DEBUG", "SLEEP", "0.1"]), b"+OK\r\n");
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(c.call(&["DEBUG", "SLEEP", "0"]), b"+OK\r\n");
    // 100 ms is above the default 10 ms threshold: the entry is there, with
    // its arguments and a duration of at least 100 ms.
    let mut rc = node.client();
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query(&mut rc)
        .unwrap();
    let found = entries.iter().find_map(|e| {
        let redis::Value::Array(fields) = e else {
            panic!("entry {e:?}")
        };
        let args: Vec<String> = redis::from_redis_value(&fields[3]).unwrap();
        (args == ["DEBUG", "SLEEP", "0.1"])
            .then(|| redis::from_redis_value::<u64>(&fields[2]).unwrap())
    });
    let dur = found.unwrap_or_else(|| panic!("no DEBUG SLEEP 0.1 entry in {entries:?}"));
    assert!(dur >= 100_000, "{dur}");
}

#[test]
fn object_freq_with_an_lfu_policy() {
    let node = start_ferrocache(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = node.raw();
    assert_eq!(c.call(&["SET", "hot", "v"]), b"+OK\r\n");
    assert_eq!(c.call(&["SET", "cold", "v"]), b"+OK\r\n");
    let initial = int(&c.call(&["OBJECT", "FREQ", "cold"]));
    assert_eq!(initial, 5, "new keys start at LFU_INIT_VAL");
    for _ in 0..300 {
        c.call(&["GET", "hot"]);
    }
    let hot = int(&c.call(&["OBJECT", "FREQ", "hot"]));
    assert!(hot > initial, "hot {hot} vs {initial}");
    assert_eq!(show(&c.call(&["OBJECT", "FREQ", "missing"])), "$-1\r\n");
    // Without an LFU policy, OBJECT FREQ refuses (Redis's text).
    assert_eq!(
        c.call(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]),
        b"+OK\r\n"
    );
    let redis = start_redis();
    let mut r = redis.raw();
    r.call(&["SET", "hot", "v"]);
    assert_eq!(
        show(&c.call(&["OBJECT", "FREQ", "hot"])),
        show(&r.call(&["OBJECT", "FREQ", "hot"]))
    );
}

/// Redis looks the key up first: a missing key is nil whatever the policy.
#[test]
fn object_freq_of_a_missing_key_is_nil_under_any_policy() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let cmd = &["OBJECT", "FREQ", "missing"];
    assert_eq!(redis.raw().call(cmd), b"$-1\r\n");
    assert_eq!(show(&ferro.raw().call(cmd)), "$-1\r\n");
}
