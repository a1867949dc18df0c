//! Blocking commands across connections and worker threads: BLPOP/BRPOP/
//! BLMOVE/BLMPOP/BZPOPMIN..., FIFO service, timeouts, CLIENT UNBLOCK.

mod common;

use std::time::{Duration, Instant};

use common::Raw;

fn resp(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn call(c: &mut Raw, args: &[&str]) -> String {
    let v = resp(args);
    let refs: Vec<&[u8]> = v.iter().map(|a| a.as_slice()).collect();
    c.cmd(&refs);
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

fn send(c: &mut Raw, args: &[&str]) {
    let v = resp(args);
    let refs: Vec<&[u8]> = v.iter().map(|a| a.as_slice()).collect();
    c.cmd(&refs);
}

/// Waits until INFO reports `n` blocked clients.
fn wait_blocked(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = call(c, &["INFO", "clients"]);
        if info.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {n} blocked clients: {info}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn blpop_is_served_by_a_push_from_another_client() {
    let node = common::start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let mut waiter = node.raw();
    let mut admin = node.raw();
    send(&mut waiter, &["BLPOP", "q", "0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(call(&mut admin, &["RPUSH", "q", "job"]), ":1\r\n");
    assert_eq!(
        String::from_utf8_lossy(&waiter.read_reply()),
        "*2\r\n$1\r\nq\r\n$3\r\njob\r\n"
    );
    assert_eq!(call(&mut admin, &["EXISTS", "q"]), ":0\r\n");
}

#[test]
fn waiters_are_served_in_fifo_order() {
    let node = common::start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let mut admin = node.raw();
    let mut waiters: Vec<Raw> = (0..5).map(|_| node.raw()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        send(w, &["BRPOP", "fifo", "0"]);
        wait_blocked(&mut admin, i + 1);
    }
    // One push of five elements makes all five ready: served in the order they blocked.
    assert_eq!(
        call(&mut admin, &["LPUSH", "fifo", "a", "b", "c", "d", "e"]),
        ":5\r\n"
    );
    let got: Vec<String> = waiters
        .iter_mut()
        .map(|w| String::from_utf8_lossy(&w.read_reply()).into_owned())
        .collect();
    let expected: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|v| format!("*2\r\n$4\r\nfifo\r\n$1\r\n{v}\r\n"))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn timeouts_and_client_unblock() {
    let node = common::start_ferrocache(&[]);
    let mut c = node.raw();
    let start = Instant::now();
    assert_eq!(call(&mut c, &["BLPOP", "none", "0.2"]), "*-1\r\n");
    assert!(start.elapsed() >= Duration::from_millis(190));
    assert_eq!(
        call(&mut c, &["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.05"]),
        "$-1\r\n"
    );
    assert_eq!(
        call(&mut c, &["BLPOP", "k", "-1"]),
        "-ERR timeout is negative\r\n"
    );
    assert_eq!(
        call(&mut c, &["BLPOP", "k", "abc"]),
        "-ERR timeout is not a float or out of range\r\n"
    );

    let mut admin = node.raw();
    let id = call(&mut c, &["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim().to_string();
    send(&mut c, &["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(call(&mut admin, &["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(String::from_utf8_lossy(&c.read_reply()), "*-1\r\n");
    send(&mut c, &["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        call(&mut admin, &["CLIENT", "UNBLOCK", &id, "ERROR"]),
        ":1\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&c.read_reply()),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(call(&mut admin, &["CLIENT", "UNBLOCK", &id]), ":0\r\n");
}

#[test]
fn blocked_on_keys_in_several_shards() {
    let node = common::start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let mut admin = node.raw();
    let mut w = node.raw();
    send(&mut w, &["BLPOP", "alpha", "bravo", "charlie", "0"]);
    wait_blocked(&mut admin, 1);
    call(&mut admin, &["RPUSH", "charlie", "x"]);
    assert_eq!(
        String::from_utf8_lossy(&w.read_reply()),
        "*2\r\n$7\r\ncharlie\r\n$1\r\nx\r\n"
    );
    // BLMOVE into another list wakes a client blocked on the destination.
    let mut w2 = node.raw();
    send(&mut w2, &["BLPOP", "dst", "0"]);
    let mut w3 = node.raw();
    send(&mut w3, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut admin, 2);
    call(&mut admin, &["RPUSH", "src", "moved"]);
    assert_eq!(String::from_utf8_lossy(&w3.read_reply()), "$5\r\nmoved\r\n");
    assert_eq!(
        String::from_utf8_lossy(&w2.read_reply()),
        "*2\r\n$3\r\ndst\r\n$5\r\nmoved\r\n"
    );
}

#[test]
fn bzpopmin_and_bzmpop() {
    let node = common::start_ferrocache(&["--threads", "2", "--worker-placement", "spread"]);
    let mut admin = node.raw();
    let mut w = node.raw();
    send(&mut w, &["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut admin, 1);
    call(&mut admin, &["ZADD", "z", "2", "b", "1", "a"]);
    assert_eq!(
        String::from_utf8_lossy(&w.read_reply()),
        "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    send(&mut w, &["BZMPOP", "0", "1", "z2", "MAX", "COUNT", "2"]);
    wait_blocked(&mut admin, 1);
    call(&mut admin, &["ZADD", "z2", "1", "x", "2", "y", "3", "w"]);
    assert_eq!(
        String::from_utf8_lossy(&w.read_reply()),
        "*2\r\n$2\r\nz2\r\n*2\r\n*2\r\n$1\r\nw\r\n$1\r\n3\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n"
    );
}

/// A list waiter first in line does not keep a zset waiter behind it from
/// being served when the key becomes a sorted set (as in redis-server).
#[test]
fn a_waiter_for_another_type_passes_the_wake_up_on() {
    let node = common::start_ferrocache(&["--threads", "2", "--worker-placement", "spread"]);
    let mut admin = node.raw();
    let mut list_waiter = node.raw();
    let mut zset_waiter = node.raw();
    send(&mut list_waiter, &["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    send(&mut zset_waiter, &["BZPOPMIN", "k", "0"]);
    wait_blocked(&mut admin, 2);
    call(&mut admin, &["ZADD", "k", "1", "m"]);
    assert_eq!(
        String::from_utf8_lossy(&zset_waiter.read_reply()),
        "*3\r\n$1\r\nk\r\n$1\r\nm\r\n$1\r\n1\r\n"
    );
    wait_blocked(&mut admin, 1);
    call(&mut admin, &["RPUSH", "k", "x"]);
    assert_eq!(
        String::from_utf8_lossy(&list_waiter.read_reply()),
        "*2\r\n$1\r\nk\r\n$1\r\nx\r\n"
    );
}

#[test]
fn many_producers_and_consumers_lose_nothing() {
    let node = common::start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let port = node.port;
    let consumers: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                let mut got = Vec::new();
                loop {
                    let r = call(&mut c, &["BLPOP", "jobs", "1"]);
                    if r == "*-1\r\n" {
                        return got;
                    }
                    got.push(r);
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                for i in 0..500 {
                    call(&mut c, &["RPUSH", "jobs", &format!("{p}-{i}")]);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let total: usize = consumers.into_iter().map(|c| c.join().unwrap().len()).sum();
    assert_eq!(total, 2000);
}

/// Clients woken by a command run before its reply is written, as in
/// Redis, when they share its worker: once RPUSH has answered, the chain
/// of BLMOVEs it set off has moved the element to the end (the suite's
/// "Linked LMOVEs"), and a WATCH on a list that a woken BRPOPLPUSH pushed
/// to is already broken.
fn woken_clients_run_before_the_reply(node: &common::Proc) {
    for round in 0..20 {
        let mut first = node.raw();
        let mut second = node.raw();
        let mut admin = node.raw();
        call(&mut admin, &["DEL", "l1", "l2", "l3"]);
        send(&mut first, &["BLMOVE", "l1", "l2", "RIGHT", "LEFT", "0"]);
        wait_blocked(&mut admin, 1);
        send(&mut second, &["BLMOVE", "l2", "l3", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut admin, 2);
        assert_eq!(call(&mut admin, &["RPUSH", "l1", "foo"]), ":1\r\n");
        assert_eq!(call(&mut admin, &["LRANGE", "l1", "0", "-1"]), "*0\r\n");
        assert_eq!(
            call(&mut admin, &["LRANGE", "l2", "0", "-1"]),
            "*0\r\n",
            "round {round}"
        );
        assert_eq!(
            call(&mut admin, &["LRANGE", "l3", "0", "-1"]),
            "*1\r\n$3\r\nfoo\r\n"
        );

        let mut watcher = node.raw();
        send(&mut first, &["BRPOPLPUSH", "src", "dst", "0"]);
        wait_blocked(&mut admin, 1);
        assert_eq!(call(&mut watcher, &["WATCH", "dst"]), "+OK\r\n");
        assert_eq!(call(&mut watcher, &["MULTI"]), "+OK\r\n");
        assert_eq!(call(&mut watcher, &["GET", "x"]), "+QUEUED\r\n");
        assert_eq!(call(&mut admin, &["LPUSH", "src", "e"]), ":1\r\n");
        assert_eq!(call(&mut watcher, &["EXEC"]), "*-1\r\n", "round {round}");
        call(&mut admin, &["DEL", "dst"]);
    }
}

#[test]
fn woken_clients_on_the_same_worker_run_before_the_reply_is_written() {
    woken_clients_run_before_the_reply(&common::start_ferrocache(&["--threads", "1"]));
    if common::have_redis() {
        woken_clients_run_before_the_reply(&common::start_redis());
    }
}
