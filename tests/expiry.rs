//! Expiry end to end: active expiry of many unread keys, DEBUG
//! SET-ACTIVE-EXPIRE, lazy expiry on access.

mod common;

use std::time::{Duration, Instant};

use common::{encode, info_field, start_ferrocache, wait_until, Raw};

/// Pipelines `SET <prefix>:<i> v <ttl_opt> <ttl>` for `n` keys in batches.
fn set_many(c: &mut Raw, prefix: &str, n: usize, ttl_opt: &str, ttl: &str) {
    const BATCH: usize = 5_000;
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let mut batch = Vec::with_capacity((end - i) * 48);
        for k in i..end {
            let key = format!("{prefix}:{k}");
            batch.extend(encode(&[
                b"SET",
                key.as_bytes(),
                b"v",
                ttl_opt.as_bytes(),
                ttl.as_bytes(),
            ]));
        }
        c.send(&batch);
        for _ in i..end {
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
        i = end;
    }
}

fn dbsize(c: &mut Raw) -> u64 {
    let r = c.call(&["DBSIZE"]);
    std::str::from_utf8(&r[1..r.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

fn info(c: &mut Raw, section: &str) -> String {
    let r = c.call(&["INFO", section]);
    String::from_utf8_lossy(&r).into_owned()
}

#[test]
fn active_expiry_removes_100k_unread_keys() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    c.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let t0 = Instant::now();
    set_many(&mut c, "ttl", 100_000, "EX", "1");
    let written = Instant::now();
    let n = dbsize(&mut c);
    // Some may already have expired if writing took over a second.
    assert!(n > 0 && n <= 100_000, "dbsize {n}");
    if written.duration_since(t0) < Duration::from_millis(900) {
        assert_eq!(n, 100_000);
    }
    let ks = info(&mut c, "keyspace");
    assert!(ks.contains("db0:keys="), "{ks}");
    // Nothing reads the keys: the cron alone must remove them, within 5 s
    // of the last one's expiry.
    let deadline = written + Duration::from_secs(1 + 5);
    loop {
        let n = dbsize(&mut c);
        if n == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} keys still counted 6 s after the writes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = info(&mut c, "stats");
    let expired: u64 = info_field(&stats, "expired_keys").unwrap().parse().unwrap();
    assert_eq!(expired, 100_000, "{stats}");
    assert!(!info(&mut c, "keyspace").contains("db0:"));
}

#[test]
fn disabled_active_expiry_keeps_unread_keys_counted() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    assert_eq!(c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), b"+OK\r\n");
    set_many(&mut c, "short", 1_000, "PX", "100");
    set_many(&mut c, "long", 10, "EX", "1000");
    // Past the TTLs (wall clock): active expiry being off, nothing removes them.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(dbsize(&mut c), 1_010);
    let ks = info(&mut c, "keyspace");
    assert!(ks.contains("db0:keys=1010,expires=1010,"), "{ks}");
    // Stay counted while unread, over several cron cycles.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dbsize(&mut c), 1_010);
    // Reading an expired key returns nil and removes it (lazy expiry).
    for i in 0..10 {
        let key = format!("short:{i}");
        assert_eq!(c.call(&["GET", &key]), b"$-1\r\n");
        assert_eq!(c.call(&["EXISTS", &key]), b":0\r\n");
        assert_eq!(c.call(&["TTL", &key]), b":-2\r\n");
    }
    assert_eq!(dbsize(&mut c), 1_000);
    assert_eq!(c.call(&["GET", "long:0"]), b"$1\r\nv\r\n");
    // Re-enabled, the cron clears the rest.
    assert_eq!(c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), b"+OK\r\n");
    wait_until(Duration::from_secs(10), "expired keys removed", || {
        dbsize(&mut c) == 10
    });
    let stats = info(&mut c, "stats");
    assert_eq!(info_field(&stats, "expired_keys").as_deref(), Some("1000"));
}

#[test]
fn ttl_commands_round_trip() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    assert_eq!(c.call(&["SET", "k", "v", "EX", "100"]), b"+OK\r\n");
    let ttl = c.call(&["TTL", "k"]);
    assert!(
        ttl == b":100\r\n" || ttl == b":99\r\n",
        "{}",
        common::show(&ttl)
    );
    assert_eq!(c.call(&["PERSIST", "k"]), b":1\r\n");
    assert_eq!(c.call(&["TTL", "k"]), b":-1\r\n");
    assert_eq!(c.call(&["PEXPIRE", "k", "50"]), b":1\r\n");
    wait_until(Duration::from_secs(10), "k expired", || {
        c.call(&["EXISTS", "k"]) == b":0\r\n"
    });
    assert_eq!(c.call(&["GET", "k"]), b"$-1\r\n");
    // An expire time in the past deletes at once.
    assert_eq!(c.call(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.call(&["EXPIREAT", "k", "1"]), b":1\r\n");
    assert_eq!(c.call(&["EXISTS", "k"]), b":0\r\n");
    assert_eq!(dbsize(&mut c), 0);
}
