//! Lazy freeing end to end: deleting a big key with UNLINK does not stall
//! other clients (measured against DEL of an equal key, which frees it on
//! the worker), and expiry, overwrites and FLUSHALL ASYNC free big values in
//! the background when configured to, as INFO's lazyfree counters show.
//!
//! The key has `FERRO_LAZYFREE_ELEMENTS` members (default 2,000,000; the
//! issue's 10,000,000 takes a minute to load into a debug build).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, info_field, start_ferrocache, wait_until, Proc, Raw};

fn elements() -> usize {
    std::env::var("FERRO_LAZYFREE_ELEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

/// Loads a set of `n` members under `key` (hash-table encoded: one
/// allocation per member, the slow kind to free).
fn load_big_set(raw: &mut Raw, key: &str, n: usize) {
    let mut sent = 0;
    while sent < n {
        let mut batch = Vec::new();
        let mut commands = 0;
        while sent < n && commands < 50 {
            let members: Vec<String> = (sent..(sent + 1000).min(n))
                .map(|i| format!("member:{i}"))
                .collect();
            sent += members.len();
            let mut args: Vec<&[u8]> = vec![b"SADD", key.as_bytes()];
            args.extend(members.iter().map(|m| m.as_bytes()));
            batch.extend(encode(&args));
            commands += 1;
        }
        raw.send(&batch);
        for _ in 0..commands {
            raw.read_reply();
        }
    }
}

fn info_num(raw: &mut Raw, field: &str) -> u64 {
    let reply = raw.call(&["INFO"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    info_field(&text, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {field}"))
}

/// Runs `delete` while four other clients PING in a loop; returns how long
/// the command took and the longest PING meanwhile.
fn probe_while(node: &Proc, delete: impl FnOnce() -> Duration) -> (Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let probers: Vec<_> = (0..4)
        .map(|_| {
            let mut raw = node.raw();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    assert_eq!(raw.call(&["PING"]), b"+PONG\r\n");
                    worst = worst.max(t.elapsed());
                }
                worst
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let took = delete();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let worst = probers
        .into_iter()
        .map(|p| p.join().unwrap())
        .max()
        .unwrap_or_default();
    (took, worst)
}

#[test]
fn unlink_of_a_big_key_does_not_stall_other_clients() {
    let node = start_ferrocache(&[]);
    let mut raw = node.raw();
    let n = elements();
    load_big_set(&mut raw, "big:del", n);
    load_big_set(&mut raw, "big:unlink", n);
    assert_eq!(
        raw.call(&["SCARD", "big:unlink"]),
        format!(":{n}\r\n").as_bytes()
    );

    let mut del_conn = node.raw();
    let (del_took, del_worst) = probe_while(&node, || {
        let t = Instant::now();
        assert_eq!(del_conn.call(&["DEL", "big:del"]), b":1\r\n");
        t.elapsed()
    });
    let mut unlink_conn = node.raw();
    let (unlink_took, unlink_worst) = probe_while(&node, || {
        let t = Instant::now();
        assert_eq!(unlink_conn.call(&["UNLINK", "big:unlink"]), b":1\r\n");
        t.elapsed()
    });
    eprintln!(
        "{n} members: DEL {del_took:?} (worst PING {del_worst:?}), UNLINK {unlink_took:?} (worst PING {unlink_worst:?})"
    );
    // DEL frees on the worker: a reference for how long freeing takes.
    assert!(
        del_took > Duration::from_millis(50),
        "DEL freed {n} members in {del_took:?}: too fast to compare"
    );
    assert!(
        unlink_took * 10 < del_took,
        "UNLINK {unlink_took:?}, DEL {del_took:?}"
    );
    assert!(
        unlink_worst < Duration::from_millis(50) && unlink_worst * 2 < del_took,
        "a PING took {unlink_worst:?} during UNLINK (DEL took {del_took:?})"
    );
    wait_until(Duration::from_secs(30), "lazyfree done", || {
        info_num(&mut raw, "lazyfree_pending_objects") == 0
    });
    assert_eq!(info_num(&mut raw, "lazyfreed_objects"), 1);
}

#[test]
fn expiry_overwrite_and_flush_free_in_the_background_when_configured() {
    let node = start_ferrocache(&[]);
    let mut raw = node.raw();
    let freed = |raw: &mut Raw| info_num(raw, "lazyfreed_objects");
    // Not configured: freed on the spot.
    load_big_set(&mut raw, "small-effort", 10);
    load_big_set(&mut raw, "s", 1000);
    assert_eq!(raw.call(&["SET", "s", "x"]), b"+OK\r\n");
    assert_eq!(freed(&mut raw), 0);

    // Overwritten (lazyfree-lazy-server-del).
    raw.call(&["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]);
    load_big_set(&mut raw, "s2", 1000);
    assert_eq!(raw.call(&["SET", "s2", "x"]), b"+OK\r\n");
    wait_until(Duration::from_secs(10), "overwritten value freed", || {
        freed(&mut raw) == 1
    });

    // Expired by the active cycle (lazyfree-lazy-expire).
    raw.call(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    load_big_set(&mut raw, "s3", 1000);
    assert_eq!(raw.call(&["PEXPIRE", "s3", "1"]), b":1\r\n");
    wait_until(Duration::from_secs(10), "expired value freed", || {
        freed(&mut raw) == 2
    });
    assert_eq!(raw.call(&["EXISTS", "s3"]), b":0\r\n");

    // A small value is never worth the trip.
    assert_eq!(raw.call(&["UNLINK", "small-effort"]), b":1\r\n");
    // FLUSHALL ASYNC hands every key over at once (s, s2 and ten more).
    for i in 0..10 {
        raw.call(&["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(raw.call(&["FLUSHALL", "ASYNC"]), b"+OK\r\n");
    wait_until(Duration::from_secs(10), "flushed keys freed", || {
        freed(&mut raw) == 14
    });
    assert_eq!(raw.call(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    assert_eq!(freed(&mut raw), 0);
}
