//! The worker event loop (crates/server/src/worker.rs, conn.rs) on a
//! one-worker node, where every connection shares the same thread:
//! * a busy script hands the loop to a helper thread, so the worker's other
//!   connections, including those whose input arrived in the same batch as
//!   the script, get BUSY and can SCRIPT KILL;
//! * a client that does not read its (large) replies waits for the socket
//!   without holding up the others, and gets every byte later;
//! * commands sent behind a blocking command run once it is served, and a
//!   blocked client that goes away leaves no waiter behind;
//! * `timeout` closes idle clients but not blocked ones or subscribers;
//! * a worker that served a request spins for the next (`worker-spin-us`);
//! * the replies of one round of the loop go out together at its end.
//!
//! The scenarios that are plain Redis behaviour also run against the real
//! redis-server.

mod common;

use std::time::{Duration, Instant};

use common::{have_redis, start_ferrocache, start_redis, Proc, Raw};

fn raw(node: &Proc, timeout: Duration) -> Raw {
    let r = node.raw();
    r.stream.set_read_timeout(Some(timeout)).expect("timeout");
    r
}

fn call(c: &mut Raw, args: &[&str]) -> Vec<u8> {
    send(c, args);
    c.read_reply()
}

fn send(c: &mut Raw, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.cmd(&a);
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn one_worker_serves_other_connections_while_a_script_is_busy() {
    let node = start_ferrocache(&["--threads", "1", "--enable-debug-command", "yes"]);
    let mut admin = raw(&node, Duration::from_secs(5));
    assert_eq!(
        call(&mut admin, &["CONFIG", "SET", "busy-reply-threshold", "50"]),
        b"+OK\r\n"
    );
    for round in 0..5 {
        let mut others: Vec<Raw> = (0..8).map(|_| raw(&node, Duration::from_secs(5))).collect();
        for c in &mut others {
            assert_eq!(call(c, &["PING"]), b"+PONG\r\n");
        }
        let mut script = raw(&node, Duration::from_secs(10));
        // While the worker sleeps, the script and then the PINGs arrive: the
        // worker finds them in one batch, and the PINGs behind the script
        // must be handed to the helper with the loop.
        send(&mut admin, &["DEBUG", "SLEEP", "0.3"]);
        std::thread::sleep(Duration::from_millis(50));
        send(&mut script, &["EVAL", "while true do end", "0"]);
        std::thread::sleep(Duration::from_millis(20));
        for c in &mut others {
            send(c, &["PING"]);
        }
        assert_eq!(admin.read_reply(), b"+OK\r\n");
        let mut busy = 0;
        for c in &mut others {
            let r = c
                .try_read_reply()
                .unwrap_or_else(|e| panic!("round {round}: a connection stalled: {e}"));
            if r.starts_with(b"-BUSY") {
                busy += 1;
            } else {
                assert_eq!(r, b"+PONG\r\n", "round {round}: {}", text(&r));
            }
        }
        // Served while the script runs (PINGs that beat the script to the
        // worker got PONG): each connection is answered, and soon BUSY.
        for c in &mut others {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let r = call(c, &["PING"]);
                if r.starts_with(b"-BUSY") {
                    break;
                }
                assert_eq!(r, b"+PONG\r\n", "round {round}: {}", text(&r));
                assert!(Instant::now() < deadline, "round {round}: never BUSY");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        assert_eq!(call(&mut others[0], &["SCRIPT", "KILL"]), b"+OK\r\n");
        let killed = text(&script.read_reply());
        assert!(killed.contains("Script killed by user"), "{killed}");
        for c in &mut others {
            assert_eq!(call(c, &["PING"]), b"+PONG\r\n");
        }
        assert_eq!(call(&mut script, &["PING"]), b"+PONG\r\n");
        eprintln!("round {round}: {busy} of 8 PINGs sent with the script answered BUSY");
    }
}

/// A client pipelines GETs of a big value and reads nothing for a while:
/// the others on its worker are still served, and it gets every byte.
fn slow_reader(node: &Proc) {
    let mut c = raw(node, Duration::from_secs(10));
    let value: Vec<u8> = (0..8 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    c.cmd(&[b"SET", b"big", &value]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let mut reader = raw(node, Duration::from_secs(10));
    for _ in 0..4 {
        send(&mut reader, &["GET", "big"]);
    }
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    for i in 0..200 {
        assert_eq!(
            call(&mut c, &["INCR", "n"]),
            format!(":{}\r\n", i + 1).as_bytes()
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "others were held up: {:?}",
        start.elapsed()
    );
    let mut expected = format!("${}\r\n", value.len()).into_bytes();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    for _ in 0..4 {
        assert!(reader.read_reply() == expected, "a reply was damaged");
    }
    assert_eq!(call(&mut reader, &["PING"]), b"+PONG\r\n");
}

#[test]
fn slow_reader_does_not_hold_up_its_worker() {
    slow_reader(&start_ferrocache(&["--threads", "1"]));
    if have_redis() {
        slow_reader(&start_redis());
    }
}

fn wait_blocked_clients(admin: &mut Raw, n: usize) {
    common::wait_until(Duration::from_secs(5), "blocked_clients to change", || {
        let info = text(&call(admin, &["INFO", "clients"]));
        common::info_field(&info, "blocked_clients") == Some(n.to_string())
    });
}

/// Commands pipelined behind a blocking command, and a blocked client that
/// disconnects.
fn behind_a_blocked_command(node: &Proc) {
    let mut admin = raw(node, Duration::from_secs(5));
    let mut blocked = raw(node, Duration::from_secs(5));
    blocked.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nq\r\n");
    wait_blocked_clients(&mut admin, 1);
    // More input while blocked: it waits too.
    send(&mut blocked, &["ECHO", "later"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(call(&mut admin, &["RPUSH", "q", "v"]), b":1\r\n");
    assert_eq!(blocked.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nv\r\n");
    assert_eq!(blocked.read_reply(), b"+PONG\r\n");
    assert_eq!(blocked.read_reply(), b"$-1\r\n");
    assert_eq!(blocked.read_reply(), b"$5\r\nlater\r\n");

    // A blocked client that goes away is no longer waiting: the next push
    // stays in the list.
    let mut gone = raw(node, Duration::from_secs(5));
    send(&mut gone, &["BLPOP", "q2", "0"]);
    wait_blocked_clients(&mut admin, 1);
    drop(gone);
    wait_blocked_clients(&mut admin, 0);
    assert_eq!(call(&mut admin, &["RPUSH", "q2", "v"]), b":1\r\n");
    assert_eq!(call(&mut admin, &["LLEN", "q2"]), b":1\r\n");
}

#[test]
fn commands_behind_a_blocked_command_run_once_it_is_served() {
    behind_a_blocked_command(&start_ferrocache(&["--threads", "1"]));
    if have_redis() {
        behind_a_blocked_command(&start_redis());
    }
}

/// `timeout`: an idle client is closed; a blocked client and a subscriber
/// are not.
fn idle_timeout(node: &Proc) {
    let mut admin = raw(node, Duration::from_secs(5));
    let mut idle = raw(node, Duration::from_secs(10));
    assert_eq!(call(&mut idle, &["PING"]), b"+PONG\r\n");
    let mut blocked = raw(node, Duration::from_secs(10));
    send(&mut blocked, &["BLPOP", "never", "0"]);
    let mut subscriber = raw(node, Duration::from_secs(10));
    send(&mut subscriber, &["SUBSCRIBE", "ch"]);
    subscriber.read_reply();
    assert_eq!(
        call(&mut admin, &["CONFIG", "SET", "timeout", "1"]),
        b"+OK\r\n"
    );
    let start = Instant::now();
    assert!(idle.is_closed(), "the idle client was not closed");
    assert!(start.elapsed() < Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(1500));
    // The admin connection was idle too.
    assert!(admin.is_closed(), "the idle admin client was not closed");
    let mut admin = raw(node, Duration::from_secs(5));
    assert_eq!(
        call(&mut admin, &["CONFIG", "SET", "timeout", "0"]),
        b"+OK\r\n"
    );
    assert_eq!(call(&mut admin, &["RPUSH", "never", "x"]), b":1\r\n");
    assert_eq!(blocked.read_reply(), b"*2\r\n$5\r\nnever\r\n$1\r\nx\r\n");
    assert_eq!(call(&mut admin, &["PUBLISH", "ch", "m"]), b":1\r\n");
    assert_eq!(
        subscriber.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"
    );
}

#[test]
fn timeout_closes_idle_clients_only() {
    idle_timeout(&start_ferrocache(&["--threads", "1"]));
    if have_redis() {
        idle_timeout(&start_redis());
    }
}

/// The replies computed in one round of a worker's loop are written at its
/// end, as Redis writes them before it sleeps (a client waiting on many
/// connections then wakes once for all of them). So a PING that shares a
/// round with a DEBUG SLEEP is answered only after the sleep.
fn replies_of_a_round(node: &Proc) {
    let mut conns: Vec<Raw> = (0..3).map(|_| raw(node, Duration::from_secs(5))).collect();
    for c in &mut conns {
        assert_eq!(call(c, &["PING"]), b"+PONG\r\n");
    }
    let [first, ping, second] = &mut conns[..] else {
        unreachable!()
    };
    send(first, &["DEBUG", "SLEEP", "0.3"]);
    std::thread::sleep(Duration::from_millis(50));
    // The worker sleeps in the first command; the PING, then the second
    // sleep, arrive meanwhile and are served in its next round.
    let start = Instant::now();
    send(ping, &["PING"]);
    std::thread::sleep(Duration::from_millis(20));
    send(second, &["DEBUG", "SLEEP", "0.3"]);
    assert_eq!(first.read_reply(), b"+OK\r\n");
    assert_eq!(ping.read_reply(), b"+PONG\r\n");
    let pong_after = start.elapsed();
    assert_eq!(second.read_reply(), b"+OK\r\n");
    // The first sleep ends about 250 ms after `start`, the second 300 ms
    // later: a PING written as soon as it ran would be back at about 250.
    assert!(
        pong_after >= Duration::from_millis(450),
        "PONG after {pong_after:?}: written before its round ended"
    );
}

#[test]
fn the_replies_of_a_round_go_out_together_at_its_end() {
    replies_of_a_round(&start_ferrocache(&[
        "--threads",
        "1",
        "--enable-debug-command",
        "yes",
    ]));
    if have_redis() {
        replies_of_a_round(&common::start_redis_with(
            None,
            &["--enable-debug-command", "yes"],
        ));
    }
}

fn active_workers(c: &mut Raw) -> usize {
    let info = text(&call(c, &["INFO", "server"]));
    common::info_field(&info, "ferrocache_active_workers")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Elastic placement (`worker-placement elastic`) on a
/// two-worker node: connections start on one worker; a load that keeps it
/// busy brings the second in and half of the connections move to it,
/// between commands; when the load stops they move back. Every pipelined
/// reply arrives, in order, through the moves; a client blocked meanwhile
/// stays where it is and is served; a subscriber that moved still gets
/// its messages.
#[test]
fn connections_move_between_workers_without_losing_a_reply() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let node = start_ferrocache(&["--threads", "2", "--worker-placement", "elastic"]);
    let mut admin = raw(&node, Duration::from_secs(10));
    assert_eq!(active_workers(&mut admin), 1);
    let mut blocked = raw(&node, Duration::from_secs(30));
    send(&mut blocked, &["BLPOP", "moving:list", "0"]);
    let mut subscriber = raw(&node, Duration::from_secs(10));
    call(&mut subscriber, &["SUBSCRIBE", "moving:news"]);

    // Each INCR (whose replies prove order) comes with a command that is
    // costly for the server and cheap for the client, so the server, not
    // the six client threads, needs the CPU.
    let members: Vec<String> = (0..1000).map(|m| m.to_string()).collect();
    for set in ["moving:a", "moving:b"] {
        let mut sadd = vec!["SADD", set];
        sadd.extend(members.iter().map(String::as_str));
        assert_eq!(call(&mut admin, &sadd), b":1000\r\n");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..6)
        .map(|i| {
            let mut c = raw(&node, Duration::from_secs(10));
            let stop = stop.clone();
            std::thread::spawn(move || {
                let key = format!("moving:counter:{i}");
                let batch: Vec<u8> = (0..100)
                    .flat_map(|_| {
                        let mut pair =
                            common::encode(&[b"SINTERCARD", b"2", b"moving:a", b"moving:b"]);
                        pair.extend(common::encode(&[b"INCR", key.as_bytes()]));
                        pair
                    })
                    .collect();
                let mut expected = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    c.send(&batch);
                    for _ in 0..100 {
                        expected += 1;
                        assert_eq!(c.read_reply(), b":1000\r\n");
                        assert_eq!(c.read_reply(), format!(":{expected}\r\n").into_bytes());
                    }
                }
                expected
            })
        })
        .collect();
    let grew = Instant::now();
    while active_workers(&mut admin) < 2 {
        assert!(
            grew.elapsed() < Duration::from_secs(20),
            "the second worker never took connections"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the moved connections run a while on their new worker.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let counts = common::join_all(loaders);
    for (i, n) in counts.iter().enumerate() {
        let got = call(&mut admin, &["GET", &format!("moving:counter:{i}")]);
        assert_eq!(
            got,
            format!("${}\r\n{n}\r\n", n.to_string().len()).into_bytes()
        );
    }
    let shrank = Instant::now();
    while active_workers(&mut admin) > 1 {
        assert!(
            shrank.elapsed() < Duration::from_secs(20),
            "the workers never gathered again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    call(&mut admin, &["RPUSH", "moving:list", "x"]);
    assert_eq!(
        blocked.read_reply(),
        b"*2\r\n$11\r\nmoving:list\r\n$1\r\nx\r\n".to_vec()
    );
    call(&mut admin, &["PUBLISH", "moving:news", "hello"]);
    assert_eq!(
        subscriber.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$11\r\nmoving:news\r\n$5\r\nhello\r\n".to_vec()
    );
    assert_eq!(call(&mut blocked, &["PING"]), b"+PONG\r\n");

    // The placement changes at run time: spread puts every worker back in
    // use at the next look.
    assert_eq!(
        call(&mut admin, &["CONFIG", "SET", "worker-placement", "spread"]),
        b"+OK\r\n"
    );
    common::wait_until(Duration::from_secs(5), "both workers in use", || {
        active_workers(&mut admin) == 2
    });
    assert_eq!(
        call(&mut admin, &["CONFIG", "SET", "worker-placement", "bogus"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'worker-placement') - argument(s) must be one of the following: spread, elastic\r\n"
    );
}

/// Voluntary context switches of the thread named `name` of process `pid`
/// (its sleeps), from /proc.
fn thread_sleeps(pid: u32, name: &str) -> u64 {
    // A listing taken while other threads start or exit can miss entries:
    // look again before giving up.
    for _ in 0..10 {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            let line = status
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches:"))
                .expect("voluntary_ctxt_switches");
            return line.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no thread {name} in process {pid}");
}

/// With `worker-spin-us`, a worker that served a request polls for the
/// next one before it sleeps: a client that sends every 100 µs finds it
/// awake. Without it (0), the worker sleeps between the requests.
#[test]
fn a_worker_spins_for_the_next_request_before_it_sleeps() {
    let node = start_ferrocache(&["--threads", "1", "--worker-spin-us", "1000"]);
    let mut c = raw(&node, Duration::from_secs(5));
    let sleeps_over_pings = |c: &mut Raw| {
        let before = thread_sleeps(node.child.id(), "worker-0");
        for _ in 0..200 {
            assert_eq!(call(c, &["PING"]), b"+PONG\r\n");
            std::thread::sleep(Duration::from_micros(100));
        }
        thread_sleeps(node.child.id(), "worker-0") - before
    };
    let spinning = sleeps_over_pings(&mut c);
    assert!(
        spinning < 50,
        "{spinning} sleeps in 200 requests while spinning"
    );
    assert_eq!(
        text(&call(&mut c, &["CONFIG", "SET", "worker-spin-us", "0"])),
        "+OK\r\n"
    );
    let sleeping = sleeps_over_pings(&mut c);
    assert!(
        sleeping > 150,
        "{sleeping} sleeps in 200 requests without spinning"
    );
}
