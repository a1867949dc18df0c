//! Concurrency end to end: many connections on a `--threads 4` node hammering
//! shared keys; results must be exact and multi-key commands atomic.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{shard, start_ferrocache};
use rand::{Rng, SeedableRng};

#[test]
fn incr_from_50_connections_is_exact() {
    let node = start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let url = node.url();
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut last = 0i64;
                for _ in 0..1000 {
                    let v: i64 = redis::cmd("INCR").arg("counter").query(&mut c).unwrap();
                    // Each client sees the counter strictly increase.
                    assert!(v > last, "INCR went from {last} to {v}");
                    last = v;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("incr thread");
    }
    let mut c = node.client();
    let total: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
    assert_eq!(total, 50_000);
}

const NATO: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

#[test]
fn mset_mget_are_atomic_across_shards() {
    // The keys really live in different lock shards.
    let mut shards: Vec<u16> = NATO.iter().map(|k| shard(k)).collect();
    shards.sort();
    shards.dedup();
    assert!(shards.len() >= 6, "keys share shards: {shards:?}");

    let node = start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let url = node.url();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(1));
    let reads = Arc::new(AtomicU64::new(0));
    {
        let mut c = node.client();
        let mut cmd = redis::cmd("MSET");
        for k in NATO {
            cmd.arg(*k).arg(0);
        }
        let _: () = cmd.query(&mut c).unwrap();
    }
    let mut handles = Vec::new();
    for _ in 0..3 {
        let (url, stop, next) = (url.clone(), stop.clone(), next.clone());
        handles.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let v = next.fetch_add(1, Ordering::Relaxed);
                let mut cmd = redis::cmd("MSET");
                for k in NATO {
                    cmd.arg(*k).arg(v);
                }
                let _: () = cmd.query(&mut c).unwrap();
            }
        }));
    }
    for _ in 0..3 {
        let (url, stop, reads) = (url.clone(), stop.clone(), reads.clone());
        handles.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let vals: Vec<u64> = redis::cmd("MGET").arg(NATO).query(&mut c).unwrap();
                assert_eq!(vals.len(), NATO.len());
                assert!(
                    vals.iter().all(|v| *v == vals[0]),
                    "MGET saw a half-applied MSET: {vals:?}"
                );
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Run ~2 s, but make sure enough overlapping work happened.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) || reads.load(Ordering::Relaxed) < 200 {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("mset/mget thread");
    }
    assert!(
        next.load(Ordering::Relaxed) > 100,
        "writers made no progress"
    );
    // Quiesced: every key holds the same final value.
    let mut c = node.client();
    let vals: Vec<u64> = redis::cmd("MGET").arg(NATO).query(&mut c).unwrap();
    assert!(vals.iter().all(|v| *v == vals[0] && *v > 0), "{vals:?}");
}

#[test]
fn msetnx_is_all_or_nothing_under_contention() {
    let node = start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let url = node.url();
    // 8 threads race to MSETNX the same key set, each with its own value: exactly
    // one wins, and every key holds the winner's value.
    for round in 0..20 {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                    let mut cmd = redis::cmd("MSETNX");
                    for k in NATO {
                        cmd.arg(format!("{k}:{round}")).arg(t);
                    }
                    let won: i64 = cmd.query(&mut c).unwrap();
                    won
                })
            })
            .collect();
        let wins: i64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(wins, 1, "round {round}");
        let mut c = node.client();
        let keys: Vec<String> = NATO.iter().map(|k| format!("{k}:{round}")).collect();
        let vals: Vec<i64> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
        assert!(vals.iter().all(|v| *v == vals[0]), "{vals:?}");
    }
}

/// Parses `db0:keys=N,expires=M,...` from INFO keyspace.
fn keyspace_counts(info: &str) -> (u64, u64) {
    let Some(line) = info.lines().find(|l| l.starts_with("db0:")) else {
        return (0, 0);
    };
    let get = |name: &str| -> u64 {
        line["db0:".len()..]
            .split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    (get("keys"), get("expires"))
}

#[test]
fn mixed_del_set_expire_hammering_stays_consistent() {
    let node = start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let url = node.url();
    const KEYS: usize = 64;
    let key = |i: usize| format!("mixed:{i}");
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(0xfe770 + t);
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                for n in 0..1500 {
                    let k = key(rng.gen_range(0..KEYS));
                    let k2 = key(rng.gen_range(0..KEYS));
                    let mut pipe = redis::pipe();
                    match rng.gen_range(0..10) {
                        0 => pipe.cmd("SET").arg(&k).arg(n),
                        1 => pipe.cmd("SET").arg(&k).arg(n).arg("EX").arg(1000),
                        // Expires (almost) at once: gone by the final check.
                        2 => pipe.cmd("SET").arg(&k).arg(n).arg("PX").arg(1),
                        3 => pipe.cmd("DEL").arg(&k).arg(&k2),
                        4 => pipe.cmd("EXPIRE").arg(&k).arg(1000),
                        5 => pipe.cmd("PEXPIRE").arg(&k).arg(1),
                        6 => pipe.cmd("PERSIST").arg(&k),
                        7 => pipe.cmd("MSET").arg(&k).arg(n).arg(&k2).arg(n),
                        8 => pipe.cmd("GETDEL").arg(&k),
                        _ => pipe.cmd("INCR").arg(format!("{k}:n")),
                    };
                    let _: redis::Value = pipe.query(&mut c).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("hammer thread");
    }
    // Let the 1 ms TTLs pass (wall clock; nothing else is waited for).
    std::thread::sleep(Duration::from_millis(50));
    let mut c = node.client();
    let mut live = 0u64;
    let mut volatile = 0u64;
    let all_keys: Vec<String> = (0..KEYS)
        .flat_map(|i| [key(i), format!("{}:n", key(i))])
        .collect();
    for k in &all_keys {
        // EXISTS lazily removes an expired key; TTL then tells volatile ones.
        let exists: i64 = redis::cmd("EXISTS").arg(k).query(&mut c).unwrap();
        if exists == 1 {
            live += 1;
            let ttl: i64 = redis::cmd("TTL").arg(k).query(&mut c).unwrap();
            assert!(ttl == -1 || ttl > 900, "{k}: ttl {ttl}");
            if ttl > 0 {
                volatile += 1;
            }
        }
    }
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(dbsize, live, "DBSIZE vs keys that exist");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys.len() as u64, live, "KEYS * vs keys that exist");
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert_eq!(keyspace_counts(&info), (live, volatile), "{info}");
    // SCAN agrees too.
    let mut cursor = 0u64;
    let mut scanned = std::collections::HashSet::new();
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).query(&mut c).unwrap();
        scanned.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(scanned.len() as u64, live);
}

#[test]
fn pipelined_clients_on_all_workers_keep_reply_order() {
    let node = start_ferrocache(&["--threads", "4", "--worker-placement", "spread"]);
    let port = node.port;
    let handles: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let mut raw = common::Raw::connect(port);
                for round in 0..20 {
                    let mut batch = Vec::new();
                    for i in 0..100 {
                        let v = format!("{t}-{round}-{i}");
                        batch.extend(common::encode(&[b"ECHO", v.as_bytes()]));
                    }
                    raw.send(&batch);
                    for i in 0..100 {
                        let v = format!("{t}-{round}-{i}");
                        let want = format!("${}\r\n{v}\r\n", v.len());
                        assert_eq!(common::show(&raw.read_reply()), want);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("pipeline thread");
    }
}
