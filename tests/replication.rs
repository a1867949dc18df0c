//! Replication end to end: Ferrocache replicas of Ferrocache, of the real
//! redis-server 7.0.15, and the real redis-server as a replica of
//! Ferrocache. Each scenario writes a mixed workload (every data type,
//! TTLs, SPOP, INCRBYFLOAT, scripts, transactions, several databases,
//! blocking pops, from several connections at once) and then requires the
//! replica's offset to equal the primary's and the DEBUG DIGEST of both
//! datasets to be identical. Also: partial resynchronization after a
//! dropped link (both directions of CLIENT KILL), PSYNC2 after a promotion,
//! chained replicas, disk-based transfer, read-only replicas, replicas
//! hiding keys that expired on the primary, WAIT, min-replicas-to-write,
//! ROLE and INFO replication.
//!
//! redis-server instances use ports 7470-7479 (their logs are shown when a
//! scenario with one fails). A missing redis-server is a failure, not a
//! skip.

mod common;

use std::time::{Duration, Instant};

use common::{spawn_ferrocache, Proc, TempDir};

/// A redis-server (DEBUG allowed, no persistence) in `dir`, on this file's
/// ports.
fn start_redis(dir: &TempDir) -> Proc {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let next = || 7470 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10;
    common::redis_in_dir(&dir.0, &[], next).0
}

/// Shows a redis-server's log if the scenario fails.
struct ShowLog<'a>(&'a TempDir);

impl Drop for ShowLog<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.0.path("redis.log")).unwrap_or_default();
            eprintln!("redis-server's log:\n{log}");
        }
    }
}

fn start_ferro(dir: &TempDir, extra: &[&str]) -> Proc {
    let dir = dir.0.to_str().expect("utf-8 temp dir");
    let mut args = vec![
        "--port",
        "0",
        "--dir",
        dir,
        "--save",
        "",
        "--enable-debug-command",
        "yes",
        // Each synchronization starts at once (the sharing of one
        // snapshot by replicas that arrive together has its own test).
        "--repl-diskless-sync-delay",
        "0",
    ];
    args.extend_from_slice(extra);
    spawn_ferrocache(&args, &[]).0
}

fn connect(node: &Proc) -> redis::Connection {
    let c = node.client();
    c.set_read_timeout(Some(Duration::from_secs(30))).ok();
    c
}

fn info(c: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(c).expect("INFO")
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

fn repl_field(c: &mut redis::Connection, name: &str) -> String {
    field(&info(c, "replication"), name).unwrap_or_default()
}

fn stat(c: &mut redis::Connection, name: &str) -> i64 {
    field(&info(c, "stats"), name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn replicaof(replica: &Proc, primary: &Proc) {
    let mut c = connect(replica);
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut c)
        .expect("REPLICAOF");
}

/// Waits until `replica`'s link is up and its offset equals `primary`'s.
fn wait_synced(primary: &Proc, replica: &Proc) {
    let (mut p, mut r) = (connect(primary), connect(replica));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let want = repl_field(&mut p, "master_repl_offset");
        if repl_field(&mut r, "master_link_status") == "up"
            && repl_field(&mut r, "master_repl_offset") == want
            && want == repl_field(&mut p, "master_repl_offset")
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not catch up:\nprimary:\n{}\nreplica:\n{}",
            info(&mut p, "replication"),
            info(&mut r, "replication")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn digest(node: &Proc) -> String {
    let mut c = connect(node);
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("DEBUG DIGEST")
}

fn assert_same_data(primary: &Proc, replica: &Proc) {
    wait_synced(primary, replica);
    let (p, r) = (digest(primary), digest(replica));
    assert_ne!(p, "0".repeat(40), "the primary has data");
    if p != r {
        panic!(
            "the replica's dataset differs from the primary's:\n{}",
            differences(primary, replica)
        );
    }
}

/// The keys whose values differ (DEBUG DIGEST-VALUE), or that only one
/// side has, in databases 0-2.
fn differences(primary: &Proc, replica: &Proc) -> String {
    let (mut p, mut r) = (connect(primary), connect(replica));
    let mut out = String::new();
    for db in 0..3 {
        for c in [&mut p, &mut r] {
            let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
        }
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut p).unwrap();
        let theirs: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut r).unwrap();
        keys.extend(theirs);
        keys.sort();
        keys.dedup();
        for k in keys {
            let d = |c: &mut redis::Connection| -> Vec<String> {
                redis::cmd("DEBUG")
                    .arg("DIGEST-VALUE")
                    .arg(&k)
                    .query(c)
                    .unwrap()
            };
            let (a, b) = (d(&mut p), d(&mut r));
            if a != b {
                let t = |c: &mut redis::Connection| -> i64 {
                    redis::cmd("PTTL").arg(&k).query(c).unwrap()
                };
                let v = |c: &mut redis::Connection| -> redis::Value {
                    let kind: String = redis::cmd("TYPE").arg(&k).query(c).unwrap();
                    let q = match kind.as_str() {
                        "zset" => redis::cmd("ZRANGE")
                            .arg(&k)
                            .arg(0)
                            .arg(-1)
                            .arg("WITHSCORES")
                            .clone(),
                        "list" => redis::cmd("LRANGE").arg(&k).arg(0).arg(-1).clone(),
                        "set" => redis::cmd("SMEMBERS").arg(&k).clone(),
                        "hash" => redis::cmd("HGETALL").arg(&k).clone(),
                        _ => redis::cmd("TYPE").arg(&k).clone(),
                    };
                    q.query(c).unwrap()
                };
                out += &format!(
                    "db {db} key {k}: {a:?} vs {b:?}, pttl {} vs {}\n  {:?}\n  {:?}\n",
                    t(&mut p),
                    t(&mut r),
                    v(&mut p),
                    v(&mut r)
                );
            }
        }
    }
    out
}

/// A small deterministic generator (no dependency on a rand crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `ops` random writes of every kind on `node`, in databases 0-2.
fn workload(node: &Proc, seed: u64, ops: usize) {
    let mut c = connect(node);
    let mut rng = Lcg(seed);
    for _ in 0..ops {
        let k = format!("k{}", rng.next(40));
        let db = rng.next(3);
        let mut cmd = redis::cmd("SELECT");
        cmd.arg(db);
        let _: () = cmd.query(&mut c).expect("SELECT");
        let n = rng.next(1000).to_string();
        let script = "redis.call('incr', KEYS[1]); redis.call('rpush', KEYS[2], ARGV[1]); return 1";
        let cmd: Vec<&str> = match rng.next(22) {
            0 => vec!["SET", &k, &n],
            1 => vec!["SET", &k, &n, "EX", "1000"],
            2 => vec!["INCR", "counter"],
            3 => vec!["INCRBYFLOAT", "float", "1.25"],
            4 => vec!["APPEND", "s", &n],
            5 => vec!["RPUSH", "list", &n, &k],
            6 => vec!["LPOP", "list"],
            7 => vec!["HSET", "hash", &k, &n],
            8 => vec!["HINCRBY", "hash", "count", "3"],
            9 => vec!["SADD", "set", &n, &k],
            10 => vec!["SPOP", "set"],
            11 => vec!["ZADD", "zset", &n, &k],
            12 => vec!["ZPOPMIN", "zset"],
            13 => vec!["XADD", "stream", "*", "f", &n],
            14 => vec!["EXPIRE", "list", "1000"],
            15 => vec!["PERSIST", "list"],
            16 => vec!["DEL", &k],
            17 => vec!["EVAL", script, "2", "scripted", "slist", &n],
            18 => vec!["PFADD", "hll", &n],
            19 => vec!["SETBIT", "bits", &n, "1"],
            20 => vec!["GEOADD", "geo", "13.36", "38.11", &k],
            _ => vec!["LMOVE", "list", "list2", "LEFT", "RIGHT"],
        };
        let mut q = redis::cmd(cmd[0]);
        for a in &cmd[1..] {
            q.arg(*a);
        }
        let _: redis::Value = q.query(&mut c).expect("workload command");
        if rng.next(50) == 0 {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("INCR")
                .arg("tx")
                .cmd("SADD")
                .arg("txset")
                .arg(&n);
            let _: redis::Value = pipe.query(&mut c).expect("MULTI/EXEC");
        }
    }
}

/// `workload` from several connections at once.
fn concurrent_workload(node: &Proc, seed: u64, ops: usize) {
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || workload(node, seed * 10 + t, ops));
        }
    });
}

#[test]
fn replica_converges_with_ferrocache_primary() {
    let (pd, rd) = (TempDir::new("repl-p"), TempDir::new("repl-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    workload(&primary, 1, 600);
    replicaof(&replica, &primary);
    // Writes while the snapshot is taken and after.
    concurrent_workload(&primary, 2, 300);
    assert_same_data(&primary, &replica);

    // A blocked pop served by a push goes out as its non-blocking form.
    let popper = std::thread::spawn({
        let mut c = connect(&primary);
        move || {
            let v: Option<(String, String)> = redis::cmd("BLPOP")
                .arg("queue")
                .arg(10)
                .query(&mut c)
                .expect("BLPOP");
            v
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut p = connect(&primary);
    let _: () = redis::cmd("RPUSH")
        .arg("queue")
        .arg("a")
        .arg("b")
        .query(&mut p)
        .unwrap();
    assert_eq!(popper.join().unwrap(), Some(("queue".into(), "a".into())));
    assert_same_data(&primary, &replica);

    // Read-only replica; roles.
    let mut r = connect(&replica);
    let err = redis::cmd("SET")
        .arg("x")
        .arg("1")
        .query::<()>(&mut r)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("You can't write against a read only replica"),
        "{err}"
    );
    let role: redis::Value = redis::cmd("ROLE").query(&mut r).unwrap();
    let text = format!("{role:?}");
    assert!(
        text.contains("slave") && text.contains("connected"),
        "{text}"
    );
    let role: redis::Value = redis::cmd("ROLE").query(&mut p).unwrap();
    let text = format!("{role:?}");
    assert!(
        text.contains("master") && text.contains(&replica.port.to_string()),
        "{text}"
    );
    let pinfo = info(&mut p, "replication");
    assert_eq!(field(&pinfo, "connected_slaves").as_deref(), Some("1"));
    let slave0 = field(&pinfo, "slave0").expect("slave0 line");
    assert!(
        slave0.starts_with(&format!(
            "ip=127.0.0.1,port={},state=online,offset=",
            replica.port
        )),
        "{slave0}"
    );
    assert_eq!(
        repl_field(&mut r, "master_replid"),
        field(&pinfo, "master_replid").unwrap(),
        "the replica shares the primary's replication id"
    );
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("replica")
        .query(&mut p)
        .unwrap();
    assert!(list.contains("flags=S"), "{list}");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("master")
        .query(&mut r)
        .unwrap();
    assert!(list.contains("flags=M"), "{list}");

    // WAIT counts the replica once it acknowledged this client's write.
    let _: () = redis::cmd("SET").arg("w").arg("1").query(&mut p).unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let acked: i64 = redis::cmd("WAIT").arg(2).arg(200).query(&mut p).unwrap();
    assert_eq!(
        acked, 1,
        "WAIT for more replicas than exist times out with the count"
    );
    let err = redis::cmd("WAIT")
        .arg(1)
        .arg(0)
        .query::<i64>(&mut r)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("WAIT cannot be used with replica instances"),
        "{err}"
    );

    // REPLICAOF NO ONE: writable again, under a new id.
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("SET").arg("x").arg("1").query(&mut r).unwrap();
    let rinfo = info(&mut r, "replication");
    assert_eq!(field(&rinfo, "role").as_deref(), Some("master"));
    assert_eq!(
        field(&rinfo, "master_replid2"),
        field(&pinfo, "master_replid"),
        "the old id stays valid as replid2"
    );
}

#[test]
fn replicas_hide_keys_that_expired_until_the_primary_deletes_them() {
    let (pd, rd) = (TempDir::new("repl-exp-p"), TempDir::new("repl-exp-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    replicaof(&replica, &primary);
    wait_synced(&primary, &replica);
    let mut p = connect(&primary);
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut p)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(200)
        .query(&mut p)
        .unwrap();
    wait_synced(&primary, &replica);
    std::thread::sleep(Duration::from_millis(400));
    let mut r = connect(&replica);
    let v: Option<String> = redis::cmd("GET").arg("short").query(&mut r).unwrap();
    assert_eq!(v, None, "an expired key reads as missing on the replica");
    let size: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(size, 1, "but only the primary deletes it");
    // The primary's lazy expiry sends the DEL.
    let v: Option<String> = redis::cmd("GET").arg("short").query(&mut p).unwrap();
    assert_eq!(v, None);
    wait_synced(&primary, &replica);
    let size: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(size, 0);
}

#[test]
fn a_dropped_link_resumes_with_a_partial_resync() {
    let (pd, rd) = (TempDir::new("repl-pr-p"), TempDir::new("repl-pr-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    workload(&primary, 3, 300);
    replicaof(&replica, &primary);
    assert_same_data(&primary, &replica);
    let mut p = connect(&primary);
    assert_eq!(stat(&mut p, "sync_full"), 1);
    assert_eq!(stat(&mut p, "sync_partial_ok"), 0);

    // The primary drops the replica; writes go on meanwhile.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut p)
        .unwrap();
    assert_eq!(killed, 1);
    workload(&primary, 4, 200);
    assert_same_data(&primary, &replica);
    assert_eq!(stat(&mut p, "sync_full"), 1, "no second full sync");
    assert_eq!(stat(&mut p, "sync_partial_ok"), 1);

    // The replica drops its primary (in the middle of nothing: the stream
    // resumes in the database it had selected).
    let mut r = connect(&replica);
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("master")
        .query(&mut r)
        .unwrap();
    assert_eq!(killed, 1);
    workload(&primary, 5, 200);
    assert_same_data(&primary, &replica);
    assert_eq!(stat(&mut p, "sync_full"), 1);
    assert_eq!(stat(&mut p, "sync_partial_ok"), 2);

    // Past the backlog a full resync is the only way.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("repl-backlog-size")
        .arg("16384")
        .query(&mut p)
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut p)
        .unwrap();
    wait_until("the replica to be gone", Duration::from_secs(5), || {
        repl_field(&mut p, "connected_slaves") == "0"
    });
    let big = "x".repeat(64 << 10);
    for i in 0..4 {
        let _: () = redis::cmd("SET")
            .arg(format!("big{i}"))
            .arg(&big)
            .query(&mut p)
            .unwrap();
    }
    wait_until("the backlog to shrink", Duration::from_secs(5), || {
        repl_field(&mut p, "repl_backlog_histlen")
            .parse::<u64>()
            .unwrap_or(0)
            <= 16384
    });
    assert_same_data(&primary, &replica);
    assert!(
        stat(&mut p, "sync_full") >= 2,
        "a full resync after the backlog moved on"
    );
}

#[test]
fn after_a_promotion_the_other_replicas_resume_partially() {
    let dirs = [
        TempDir::new("repl-f-p"),
        TempDir::new("repl-f-a"),
        TempDir::new("repl-f-b"),
    ];
    // No PING from the primary between the promotion and its own
    // REPLICAOF (its offset would pass the promoted replica's).
    let primary = start_ferro(&dirs[0], &["--repl-ping-replica-period", "3600"]);
    let a = start_ferro(&dirs[1], &[]);
    let b = start_ferro(&dirs[2], &[]);
    workload(&primary, 6, 300);
    replicaof(&a, &primary);
    replicaof(&b, &primary);
    assert_same_data(&primary, &a);
    assert_same_data(&primary, &b);
    // Stop writes, promote `a`, point `b` and the old primary at it.
    let mut ac = connect(&a);
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut ac)
        .unwrap();
    replicaof(&b, &a);
    replicaof(&primary, &a);
    workload(&a, 7, 200);
    assert_same_data(&a, &b);
    assert_same_data(&a, &primary);
    assert_eq!(
        stat(&mut ac, "sync_full"),
        0,
        "PSYNC2: nobody needed a full resync"
    );
    assert_eq!(stat(&mut ac, "sync_partial_ok"), 2);
}

#[test]
fn chained_replicas_and_disk_based_transfer() {
    let dirs = [
        TempDir::new("repl-c-p"),
        TempDir::new("repl-c-a"),
        TempDir::new("repl-c-b"),
    ];
    let primary = start_ferro(&dirs[0], &["--repl-diskless-sync", "no"]);
    let a = start_ferro(&dirs[1], &[]);
    let b = start_ferro(&dirs[2], &[]);
    workload(&primary, 8, 300);
    replicaof(&a, &primary);
    assert_same_data(&primary, &a);
    assert!(
        dirs[0].path("dump.rdb").exists(),
        "the disk-based transfer saved the RDB file"
    );
    // The stream `b` joins has database 2 selected already: `b` learns it
    // from the snapshot (repl-stream-db), not from a SELECT.
    let mut p = connect(&primary);
    let _: () = redis::cmd("SELECT").arg(2).query(&mut p).unwrap();
    let _: () = redis::cmd("SET")
        .arg("before-chain")
        .arg(1)
        .query(&mut p)
        .unwrap();
    wait_synced(&primary, &a);
    replicaof(&b, &a);
    wait_synced(&a, &b);
    let _: () = redis::cmd("SET")
        .arg("after-chain")
        .arg(1)
        .query(&mut p)
        .unwrap();
    assert_same_data(&primary, &b);
    concurrent_workload(&primary, 9, 150);
    assert_same_data(&primary, &b);
    let mut bc = connect(&b);
    assert_eq!(
        repl_field(&mut bc, "master_replid"),
        repl_field(&mut connect(&primary), "master_replid"),
        "a replica of a replica shares the primary's id"
    );
}

#[test]
fn min_replicas_to_write_refuses_writes_without_good_replicas() {
    let (pd, rd) = (TempDir::new("repl-min-p"), TempDir::new("repl-min-r"));
    let primary = start_ferro(&pd, &[]);
    let mut p = connect(&primary);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(1)
        .query(&mut p)
        .unwrap();
    wait_until("writes refused", Duration::from_secs(5), || {
        redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query::<()>(&mut p)
            .is_err_and(|e| e.to_string().contains("Not enough good replicas to write."))
    });
    let replica = start_ferro(&rd, &[]);
    replicaof(&replica, &primary);
    wait_synced(&primary, &replica);
    wait_until("writes accepted", Duration::from_secs(5), || {
        redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query::<()>(&mut p)
            .is_ok()
    });
}

#[test]
fn real_redis_replica_follows_ferrocache() {
    let (pd, rd) = (TempDir::new("repl-rr-p"), TempDir::new("repl-rr-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_redis(&rd);
    let _log = ShowLog(&rd);
    workload(&primary, 10, 400);
    replicaof(&replica, &primary);
    concurrent_workload(&primary, 11, 150);
    assert_same_data(&primary, &replica);
    let mut p = connect(&primary);
    let _: () = redis::cmd("SET").arg("w").arg("1").query(&mut p).unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "redis-server acknowledges our stream");
}

#[test]
fn ferrocache_replica_follows_real_redis() {
    let (pd, rd) = (TempDir::new("repl-fr-p"), TempDir::new("repl-fr-r"));
    let primary = start_redis(&pd);
    let _log = ShowLog(&pd);
    let replica = start_ferro(&rd, &[]);
    let mut p = connect(&primary);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("repl-diskless-sync-delay")
        .arg(0)
        .query(&mut p)
        .unwrap();
    workload(&primary, 12, 400);
    replicaof(&replica, &primary);
    concurrent_workload(&primary, 13, 150);
    assert_same_data(&primary, &replica);
    let _: () = redis::cmd("SET").arg("w").arg("1").query(&mut p).unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "redis-server counts our acknowledgements");
    // A dropped link resumes partially from redis-server's backlog too.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut p)
        .unwrap();
    workload(&primary, 14, 100);
    assert_same_data(&primary, &replica);
    assert_eq!(stat(&mut p, "sync_partial_ok"), 1);
}

#[test]
fn failover_hands_the_primary_role_to_a_replica_without_losing_writes() {
    let (pd, rd) = (TempDir::new("repl-fo-p"), TempDir::new("repl-fo-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    let mut p = connect(&primary);
    let err = |c: &mut redis::Connection, args: &[&str]| -> String {
        let mut q = redis::cmd(args[0]);
        for a in &args[1..] {
            q.arg(*a);
        }
        q.query::<redis::Value>(c).unwrap_err().to_string()
    };
    assert!(err(&mut p, &["FAILOVER"]).contains("FAILOVER requires connected replicas."));
    assert!(err(&mut p, &["FAILOVER", "ABORT"]).contains("No failover in progress."));
    workload(&primary, 15, 200);
    replicaof(&replica, &primary);
    wait_synced(&primary, &replica);
    assert!(err(
        &mut p,
        &["FAILOVER", "TO", "127.0.0.1", "1", "TIMEOUT", "100"]
    )
    .contains("FAILOVER target HOST and PORT is not a replica."));
    assert!(err(&mut p, &["FAILOVER", "FORCE"])
        .contains("FAILOVER with force option requires both a timeout and target HOST and IP."));
    assert!(err(&mut p, &["FAILOVER", "TIMEOUT", "0"])
        .contains("FAILOVER timeout must be greater than 0"));
    let mut r = connect(&replica);
    assert!(err(&mut r, &["FAILOVER"]).contains("FAILOVER is not valid when server is a replica."));

    // A writer keeps incrementing through the failover; every increment
    // the old primary acknowledged must be on the new one.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acked = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut c = connect(&primary);
            let mut acked = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match redis::cmd("INCR").arg("fo-counter").query::<i64>(&mut c) {
                    Ok(v) => acked = v,
                    Err(_) => break, // READONLY: the old primary is a replica now
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(200));
        let _: () = redis::cmd("FAILOVER")
            .arg("TO")
            .arg("127.0.0.1")
            .arg(replica.port)
            .query(&mut p)
            .unwrap();
        wait_until("the roles to swap", Duration::from_secs(20), || {
            repl_field(&mut r, "role") == "master"
                && repl_field(&mut p, "role") == "slave"
                && repl_field(&mut p, "master_link_status") == "up"
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap()
    });
    assert_eq!(repl_field(&mut p, "master_failover_state"), "no-failover");
    assert_eq!(
        repl_field(&mut p, "master_port"),
        replica.port.to_string(),
        "the old primary follows the new one"
    );
    let counter: i64 = redis::cmd("GET").arg("fo-counter").query(&mut r).unwrap();
    assert!(
        counter >= acked,
        "acknowledged {acked} increments, the new primary has {counter}"
    );
    assert_eq!(
        stat(&mut r, "sync_full"),
        0,
        "the old primary resumed partially"
    );
    // The new primary's writes reach the old one.
    workload(&replica, 16, 100);
    assert_same_data(&replica, &primary);
}

#[test]
fn a_replica_restarted_from_its_own_rdb_resumes_partially() {
    let (pd, rd) = (TempDir::new("repl-rs-p"), TempDir::new("repl-rs-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    workload(&primary, 17, 300);
    replicaof(&replica, &primary);
    assert_same_data(&primary, &replica);
    // The stream has database 1 selected when the replica saves.
    let mut p = connect(&primary);
    let _: () = redis::cmd("SELECT").arg(1).query(&mut p).unwrap();
    let _: () = redis::cmd("SET")
        .arg("in-db-1")
        .arg("x")
        .query(&mut p)
        .unwrap();
    wait_synced(&primary, &replica);
    let _: () = redis::cmd("SAVE").query(&mut connect(&replica)).unwrap();
    drop(replica);
    // Writes while it is down, some in the stream's database.
    let _: () = redis::cmd("SET")
        .arg("while-down")
        .arg("y")
        .query(&mut p)
        .unwrap();
    workload(&primary, 18, 100);
    let _: () = redis::cmd("SELECT").arg(1).query(&mut p).unwrap();
    let _: () = redis::cmd("SET")
        .arg("after-restart")
        .arg("z")
        .query(&mut p)
        .unwrap();
    let port = primary.port.to_string();
    let replica = start_ferro(&rd, &["--replicaof", "127.0.0.1", &port]);
    assert_same_data(&primary, &replica);
    assert_eq!(stat(&mut p, "sync_full"), 1, "no second full sync");
    assert_eq!(stat(&mut p, "sync_partial_ok"), 1);
}

#[test]
fn replicas_that_arrive_together_share_one_snapshot() {
    let dirs = [
        TempDir::new("repl-sh-p"),
        TempDir::new("repl-sh-a"),
        TempDir::new("repl-sh-b"),
    ];
    // A long delay, cut short once two replicas wait.
    let primary = start_ferro(
        &dirs[0],
        &[
            "--repl-diskless-sync-delay",
            "60",
            "--repl-diskless-sync-max-replicas",
            "2",
        ],
    );
    let a = start_ferro(&dirs[1], &[]);
    let b = start_ferro(&dirs[2], &[]);
    workload(&primary, 19, 300);
    let started = Instant::now();
    replicaof(&a, &primary);
    let mut p = connect(&primary);
    wait_until("the first replica to wait", Duration::from_secs(10), || {
        info(&mut p, "replication").contains("state=wait_bgsave")
    });
    replicaof(&b, &primary);
    concurrent_workload(&primary, 20, 100);
    assert_same_data(&primary, &a);
    assert_same_data(&primary, &b);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the second replica started the shared snapshot"
    );
    assert_eq!(stat(&mut p, "sync_full"), 2, "two full synchronizations");
}

#[test]
fn a_replica_without_its_primary_can_refuse_stale_reads() {
    let rd = TempDir::new("repl-stale");
    // A primary that is not there: the link stays down.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port().to_string();
    drop(unused);
    let replica = start_ferro(&rd, &["--replicaof", "127.0.0.1", &port]);
    let mut r = connect(&replica);
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut r).unwrap();
    assert_eq!(v, None, "stale data is served by default");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("replica-serve-stale-data")
        .arg("no")
        .query(&mut r)
        .unwrap();
    let err = redis::cmd("GET")
        .arg("k")
        .query::<Option<String>>(&mut r)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
        "{err}"
    );
    assert_eq!(
        repl_field(&mut r, "master_link_status"),
        "down",
        "INFO still answers"
    );
}

#[test]
fn waitaof_counts_the_aofs_that_have_the_writes_on_disk() {
    let (pd, rd, nd) = (
        TempDir::new("repl-aof-p"),
        TempDir::new("repl-aof-r"),
        TempDir::new("repl-aof-n"),
    );
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let primary = start_ferro(&pd, &aof);
    let replica = start_ferro(&rd, &["--appendonly", "yes", "--appendfsync", "everysec"]);
    let plain = start_ferro(&nd, &[]);
    let mut n = connect(&plain);
    let err = redis::cmd("WAITAOF")
        .arg(1)
        .arg(0)
        .arg(0)
        .query::<Vec<i64>>(&mut n)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("WAITAOF cannot be used when numlocal is set but appendonly is disabled."),
        "{err}"
    );
    let none: Vec<i64> = redis::cmd("WAITAOF")
        .arg(0)
        .arg(0)
        .arg(0)
        .query(&mut n)
        .unwrap();
    assert_eq!(none, vec![0, 0]);

    replicaof(&replica, &primary);
    wait_synced(&primary, &replica);
    let mut p = connect(&primary);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut p).unwrap();
    // Local with `always`: at once; the replica's `everysec` within a second or so.
    let both: Vec<i64> = redis::cmd("WAITAOF")
        .arg(1)
        .arg(1)
        .arg(10000)
        .query(&mut p)
        .unwrap();
    assert_eq!(both, vec![1, 1]);
    let more: Vec<i64> = redis::cmd("WAITAOF")
        .arg(1)
        .arg(2)
        .arg(300)
        .query(&mut p)
        .unwrap();
    assert_eq!(
        more,
        vec![1, 1],
        "the timeout answers with the counts reached"
    );
    let mut r = connect(&replica);
    let err = redis::cmd("WAITAOF")
        .arg(0)
        .arg(0)
        .arg(0)
        .query::<Vec<i64>>(&mut r)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("WAITAOF cannot be used with replica instances"),
        "{err}"
    );
}

/// Stops (SIGSTOP) or resumes (SIGCONT) a server process.
fn signal(node: &Proc, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &node.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn failover_aborts_at_its_timeout_or_on_request_and_forces_over_when_told() {
    let dirs = [
        TempDir::new("repl-fa-p"),
        TempDir::new("repl-fa-r"),
        TempDir::new("repl-fa-a"),
    ];
    let primary = start_ferro(&dirs[0], &[]);
    let replica = start_ferro(&dirs[1], &[]);
    let mut p = connect(&primary);
    // The address a replica announces is the one its primary lists.
    let announced = start_ferro(
        &dirs[2],
        &[
            "--replica-announce-ip",
            "10.1.2.3",
            "--replica-announce-port",
            "1234",
        ],
    );
    replicaof(&announced, &primary);
    wait_until("the announced address", Duration::from_secs(20), || {
        info(&mut p, "replication").contains("slave0:ip=10.1.2.3,port=1234,state=online")
    });
    let mut a = connect(&announced);
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut a)
        .unwrap();
    drop(announced);
    wait_until(
        "the announced replica to leave",
        Duration::from_secs(10),
        || repl_field(&mut p, "connected_slaves") == "0",
    );
    replicaof(&replica, &primary);
    wait_synced(&primary, &replica);
    let rport = replica.port.to_string();
    let err = redis::cmd("READONLY").query::<()>(&mut p).unwrap_err();
    assert!(
        err.to_string()
            .contains("This instance has cluster support disabled"),
        "{err}"
    );
    let err = redis::cmd("READWRITE").query::<()>(&mut p).unwrap_err();
    assert!(
        err.to_string()
            .contains("This instance has cluster support disabled"),
        "{err}"
    );

    // A replica that cannot acknowledge (stopped): the failover waits with
    // writes paused, then gives up at its timeout; writes resume.
    let _: () = redis::cmd("SET")
        .arg("before-stop")
        .arg("1")
        .query(&mut p)
        .unwrap();
    wait_synced(&primary, &replica);
    signal(&replica, "-STOP");
    let _: () = redis::cmd("SET").arg("k").arg("1").query(&mut p).unwrap();
    let _: () = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(&rport)
        .arg("TIMEOUT")
        .arg(300)
        .query(&mut p)
        .unwrap();
    assert_eq!(
        repl_field(&mut p, "master_failover_state"),
        "waiting-for-sync"
    );
    let err = redis::cmd("FAILOVER").query::<()>(&mut p).unwrap_err();
    assert!(
        err.to_string().contains("FAILOVER already in progress."),
        "{err}"
    );
    wait_until("the failover to give up", Duration::from_secs(10), || {
        repl_field(&mut p, "master_failover_state") == "no-failover"
    });
    let _: () = redis::cmd("SET").arg("k").arg("2").query(&mut p).unwrap();
    assert_eq!(repl_field(&mut p, "role"), "master");

    // FAILOVER ABORT while it waits.
    let _: () = redis::cmd("FAILOVER").query(&mut p).unwrap();
    assert_eq!(
        repl_field(&mut p, "master_failover_state"),
        "waiting-for-sync"
    );
    let _: () = redis::cmd("FAILOVER").arg("ABORT").query(&mut p).unwrap();
    assert_eq!(repl_field(&mut p, "master_failover_state"), "no-failover");
    let _: () = redis::cmd("SET").arg("k").arg("3").query(&mut p).unwrap();

    // FORCE: at the timeout the primary hands over anyway; the replica
    // takes over once it runs again.
    let _: () = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(&rport)
        .arg("TIMEOUT")
        .arg(300)
        .arg("FORCE")
        .query(&mut p)
        .unwrap();
    wait_until("the forced hand-over", Duration::from_secs(10), || {
        repl_field(&mut p, "master_failover_state") == "failover-in-progress"
    });
    signal(&replica, "-CONT");
    let mut r = connect(&replica);
    wait_until("the roles to swap", Duration::from_secs(20), || {
        repl_field(&mut r, "role") == "master" && repl_field(&mut p, "master_link_status") == "up"
    });
    assert_eq!(repl_field(&mut p, "master_failover_state"), "no-failover");
    let v: String = redis::cmd("GET").arg("before-stop").query(&mut r).unwrap();
    assert_eq!(v, "1", "the new primary has what it had acknowledged");
    // (What it had not received is lost, as FORCE says; the old primary
    // now follows the new one's dataset.)
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut r)
        .unwrap();
    assert_same_data(&replica, &primary);
}

#[test]
fn a_replica_answers_loading_while_it_loads_its_primarys_snapshot() {
    let (pd, rd) = (TempDir::new("repl-ld-p"), TempDir::new("repl-ld-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    let mut p = connect(&primary);
    // Enough keys that loading them takes a while.
    for chunk in 0..30 {
        let mut pipe = redis::pipe();
        for i in 0..5000 {
            pipe.cmd("SET")
                .arg(format!("key:{chunk}:{i}"))
                .arg("v".repeat(64))
                .ignore();
        }
        let _: () = pipe.query(&mut p).unwrap();
    }
    let mut r = connect(&replica);
    let _: () = redis::cmd("SET")
        .arg("mine")
        .arg("1")
        .query(&mut r)
        .unwrap();
    replicaof(&replica, &primary);
    let (mut loading_seen, mut half_seen) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    while repl_field(&mut r, "master_link_status") != "up" {
        assert!(Instant::now() < deadline, "the replica did not sync");
        match redis::cmd("DBSIZE").query::<i64>(&mut r) {
            Err(e)
                if e.to_string()
                    .contains("Redis is loading the dataset in memory") =>
            {
                loading_seen = true
            }
            Ok(n) if n != 1 && n != 150_000 => half_seen = true,
            _ => {}
        }
    }
    assert!(loading_seen, "clients were told LOADING during the load");
    assert!(!half_seen, "no client saw a half-loaded dataset");
    assert_same_data(&primary, &replica);
}

#[test]
fn a_stuck_replica_is_cut_off_by_the_output_buffer_limit() {
    let (pd, rd) = (TempDir::new("repl-ob-p"), TempDir::new("repl-ob-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    replicaof(&replica, &primary);
    wait_synced(&primary, &replica);
    let mut p = connect(&primary);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("replica 4mb 2mb 60")
        .query(&mut p)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&replica, "-STOP");
    // Far more than the socket buffers and the limit hold.
    let value = "x".repeat(64 << 10);
    for i in 0..800 {
        let _: () = redis::cmd("SET")
            .arg(format!("big{}", i % 50))
            .arg(&value)
            .query(&mut p)
            .unwrap();
    }
    wait_until("the replica to be cut off", Duration::from_secs(20), || {
        repl_field(&mut p, "connected_slaves") == "0"
    });
    let histlen: u64 = repl_field(&mut p, "repl_backlog_histlen").parse().unwrap();
    assert!(
        histlen <= 2 << 20,
        "the backlog kept {histlen} bytes for the stuck replica"
    );
    // Back, it syncs again (in full: it fell out of the backlog).
    signal(&replica, "-CONT");
    assert_same_data(&primary, &replica);
    assert_eq!(stat(&mut p, "sync_full"), 2);
}

#[test]
fn a_primary_stopped_for_a_few_seconds_loses_no_replica() {
    let (pd, rd) = (TempDir::new("repl-ps-p"), TempDir::new("repl-ps-r"));
    let primary = start_ferro(&pd, &[]);
    let replica = start_ferro(&rd, &[]);
    workload(&primary, 21, 200);
    replicaof(&replica, &primary);
    assert_same_data(&primary, &replica);
    signal(&primary, "-STOP");
    std::thread::sleep(Duration::from_secs(3));
    signal(&primary, "-CONT");
    workload(&primary, 22, 200);
    assert_same_data(&primary, &replica);
    let mut p = connect(&primary);
    assert_eq!(stat(&mut p, "sync_full"), 1, "no second full sync");
}
