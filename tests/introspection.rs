//! MEMORY and LATENCY introspection end to end: MEMORY STATS / DOCTOR /
//! MALLOC-STATS / PURGE / USAGE, the latency monitor (LATENCY LATEST,
//! HISTORY, GRAPH, DOCTOR, RESET), the per-command histograms (LATENCY
//! HISTOGRAM, INFO latencystats) and their configuration, compared with a
//! real redis-server where the replies do not depend on timing.

mod common;

use common::diff::{Diff, Node};
use common::{info_field, show, start_ferrocache, Raw};

/// The keys of a RESP2 flat map or RESP3 map reply, in order.
fn map_keys(reply: &Node) -> Vec<String> {
    reply.kids.iter().step_by(2).map(Node::text).collect()
}

/// The value under `key` in a map reply.
fn map_get<'a>(reply: &'a Node, key: &str) -> Option<&'a Node> {
    reply
        .kids
        .chunks(2)
        .find(|kv| kv[0].text() == key)
        .map(|kv| &kv[1])
}

/// A reply with its integers blanked: its structure and strings only.
fn skeleton(n: &Node) -> String {
    let head = if n.head[0] == b':' {
        ":#".to_string()
    } else {
        String::from_utf8_lossy(&n.head).trim_end().to_string()
    };
    let kids: Vec<String> = n.kids.iter().map(skeleton).collect();
    format!("{head}{}[{}]", n.text_if_bulk(), kids.join(","))
}

trait BulkText {
    fn text_if_bulk(&self) -> String;
}

impl BulkText for Node {
    fn text_if_bulk(&self) -> String {
        if self.head[0] == b'$' {
            self.text()
        } else {
            String::new()
        }
    }
}

fn call(c: &mut Raw, args: &[&str]) -> Node {
    Node::parse_exact(&c.call(args))
}

fn info(c: &mut Raw, section: &str) -> String {
    call(c, &["INFO", section]).text()
}

/// Replies that do not depend on timing or on the allocator are Redis's own.
#[test]
fn memory_and_latency_replies_match_redis() {
    let mut d = Diff::new("introspection");
    let lines: &[&[&str]] = &[
        &["MEMORY", "HELP"],
        &["MEMORY", "HELP", "extra"],
        &["MEMORY", "NOPE"],
        &["MEMORY", "USAGE", "missing"],
        &["~skip", "SET", "k", "v"],
        &["MEMORY", "USAGE", "k", "SAMPLES"],
        &["MEMORY", "USAGE", "k", "SAMPLES", "-1"],
        &["MEMORY", "USAGE", "k", "SAMPLES", "x"],
        &["MEMORY", "USAGE", "k", "FOO", "1"],
        &["MEMORY", "USAGE", "missing", "SAMPLES", "0", "SAMPLES", "3"],
        &["MEMORY", "PURGE"],
        &["MEMORY", "PURGE", "now"],
        &["MEMORY", "DOCTOR"],
        &["MEMORY", "STATS", "x"],
        &["LATENCY", "HELP"],
        &["LATENCY", "HELP", "xxx"],
        &["LATENCY", "NOPE"],
        &["~skip", "CONFIG", "SET", "latency-monitor-threshold", "0"],
        &["LATENCY", "RESET"],
        &["LATENCY", "DOCTOR"],
        &["LATENCY", "LATEST"],
        &["LATENCY", "HISTORY", "blabla"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "RESET", "blabla", "command"],
        &["LATENCY", "GRAPH", "command"],
        &["~skip", "CONFIG", "SET", "latency-monitor-threshold", "500"],
        &["LATENCY", "DOCTOR"],
        &["~skip", "CONFIG", "SET", "latency-monitor-threshold", "0"],
        &["LATENCY", "HISTOGRAM", "blabla"],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "10.0 50.0 a",
        ],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "10.0 50.0 101.0",
        ],
        &["CONFIG", "SET", "latency-tracking-info-percentiles", "-1"],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0.0 50.0 100.0",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &["CONFIG", "SET", "latency-tracking-info-percentiles", ""],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "99.99 25",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &[
            "~skip",
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50 99 99.9",
        ],
    ];
    d.run_both(lines);
    // MEMORY STATS: the same fields in the same order, with a db.N map per
    // database holding keys, in both protocols (values differ by nature).
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.line(&["~skip", "SET", "a", "1"]);
        d.line(&["~skip", "SELECT", "3"]);
        d.line(&["~skip", "SET", "b", "2"]);
        let (r, f) = d.both(&["MEMORY", "STATS"]);
        let (r, f) = (Node::parse_exact(&r), Node::parse_exact(&f));
        assert_eq!(map_keys(&r), map_keys(&f), "RESP{proto}");
        assert_eq!(r.head, f.head, "RESP{proto}");
        for db in ["db.0", "db.3"] {
            let (rd, fd) = (map_get(&r, db).unwrap(), map_get(&f, db).unwrap());
            assert_eq!(map_keys(rd), map_keys(fd));
        }
        // Ratios are doubles in both (a bulk string in RESP2).
        for key in ["dataset.percentage", "fragmentation"] {
            let (rv, fv) = (map_get(&r, key).unwrap(), map_get(&f, key).unwrap());
            assert_eq!(rv.head[0], fv.head[0], "{key} RESP{proto}");
        }
    }
    // Timing-dependent replies: the same structure and names, numbers aside.
    for proto in [2, 3] {
        d.reconnect(proto);
        for setup in [
            &["CONFIG", "SET", "latency-monitor-threshold", "50"][..],
            &["LATENCY", "RESET"],
            &["DEBUG", "SLEEP", "0.06"],
            &["CONFIG", "RESETSTAT"],
        ] {
            d.both(setup);
        }
        for line in [
            &["LATENCY", "HISTOGRAM"][..],
            &["LATENCY", "HISTOGRAM", "config", "set"],
            &["LATENCY", "LATEST"],
            &["LATENCY", "HISTORY", "command"],
        ] {
            let (r, f) = d.both(line);
            let (r, f) = (
                skeleton(&Node::parse_exact(&r)),
                skeleton(&Node::parse_exact(&f)),
            );
            assert_eq!(r, f, "{line:?} RESP{proto}");
        }
        let (r, f) = d.both(&["LATENCY", "RESET"]);
        assert_eq!(
            (r.as_slice(), f.as_slice()),
            (&b":1\r\n"[..], &b":1\r\n"[..])
        );
        d.both(&["CONFIG", "SET", "latency-monitor-threshold", "0"]);
    }
    // INFO memory: Redis's fields, in Redis's order.
    d.reconnect(2);
    let (r, f) = d.both(&["INFO", "memory"]);
    let names = |reply: &[u8]| -> Vec<String> {
        Node::parse_exact(reply)
            .text()
            .lines()
            .map(|l| l.split(':').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(&r), names(&f));
    d.finish();
}

#[test]
fn memory_stats_reflect_the_dataset() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let stats = |c: &mut Raw| call(c, &["MEMORY", "STATS"]);
    let int = |n: &Node, k: &str| map_get(n, k).unwrap_or_else(|| panic!("{k}")).int();
    let empty = stats(&mut c);
    assert_eq!(int(&empty, "keys.count"), 0);
    assert_eq!(int(&empty, "keys.bytes-per-key"), 0);
    assert!(map_get(&empty, "db.0").is_none());
    assert!(int(&empty, "startup.allocated") > 0);
    assert!(int(&empty, "peak.allocated") >= int(&empty, "total.allocated"));

    // 20,000 keys of 100 bytes: the dataset grows by at least their bytes.
    let value = "x".repeat(100);
    for chunk in 0..20 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..1000 {
            args.push(format!("key:{chunk}:{i}"));
            args.push(value.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(c.call(&args), b"+OK\r\n");
    }
    let full = stats(&mut c);
    assert_eq!(int(&full, "keys.count"), 20_000);
    let total = int(&full, "total.allocated");
    let startup = int(&full, "startup.allocated");
    assert!(
        total - int(&empty, "total.allocated") >= 20_000 * 100,
        "{total}"
    );
    assert_eq!(int(&full, "keys.bytes-per-key"), (total - startup) / 20_000);
    let db0 = map_get(&full, "db.0").expect("db.0");
    assert!(int(db0, "overhead.hashtable.main") >= 20_000 * 8);
    assert_eq!(
        int(&full, "overhead.total") + int(&full, "dataset.bytes"),
        total
    );
    // INFO memory reports the same measures.
    let mem = info(&mut c, "memory");
    let field = |name: &str| -> i64 { info_field(&mem, name).unwrap().parse().unwrap() };
    assert!((field("used_memory") - total).abs() < 1 << 20, "{mem}");
    assert_eq!(field("used_memory_startup"), startup);
    assert!(field("used_memory_dataset") >= 20_000 * 100, "{mem}");
    assert!(field("used_memory_overhead") > startup, "{mem}");
    let frag: f64 = map_get(&full, "fragmentation")
        .unwrap()
        .text()
        .parse()
        .unwrap();
    assert!(frag > 0.0);

    // Past 5 MB the doctor looks for issues instead of declining.
    let doctor = call(&mut c, &["MEMORY", "DOCTOR"]).text();
    assert!(
        !doctor.contains("empty or is using very little memory"),
        "{doctor}"
    );
    assert!(doctor.starts_with("Hi Sam") || doctor.starts_with("Sam, I detected"));

    // Deleting everything leaves a peak 150% above: the doctor says so.
    assert_eq!(c.call(&["FLUSHALL"]), b"+OK\r\n");
    let big = "y".repeat(1 << 20);
    for i in 0..12 {
        c.call(&["SET", &format!("big{i}"), &big]);
    }
    c.call(&["MEMORY", "STATS"]); // notes the peak
    for i in 0..6 {
        c.call(&["DEL", &format!("big{i}")]);
    }
    let doctor = call(&mut c, &["MEMORY", "DOCTOR"]).text();
    assert!(doctor.contains("* Peak memory:"), "{doctor}");
    assert!(doctor.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"));

    assert_eq!(c.call(&["MEMORY", "PURGE"]), b"+OK\r\n");
    let malloc = call(&mut c, &["MEMORY", "MALLOC-STATS"]).text();
    assert!(
        malloc.contains("___ Begin jemalloc statistics ___"),
        "{}",
        &malloc[..200.min(malloc.len())]
    );
    assert!(malloc.contains("--- End jemalloc statistics ---"));
}

#[test]
fn memory_usage_counts_nested_values_and_checks_samples() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    for i in 0..1000 {
        c.call(&["HSET", "h", &format!("field{i}"), &"v".repeat(50)]);
    }
    let all = call(&mut c, &["MEMORY", "USAGE", "h", "SAMPLES", "0"]).int();
    let default = call(&mut c, &["MEMORY", "USAGE", "h"]).int();
    assert!(all > 1000 * 50, "{all}");
    // The default (SAMPLES 5) measures five fields and scales: these are
    // all alike, so the estimate is close.
    assert!(
        default.abs_diff(all) * 20 < all as u64,
        "sampled {default}, all {all}"
    );
    assert_eq!(
        show(&c.call(&["MEMORY", "USAGE", "h", "SAMPLES", "-5"])),
        "-ERR syntax error\r\n"
    );
}

/// The histogram part of one LATENCY HISTOGRAM entry: (calls, buckets).
fn histogram_of(reply: &Node, cmd: &str) -> Option<(i64, Vec<(i64, i64)>)> {
    let entry = map_get(reply, cmd)?;
    let calls = map_get(entry, "calls").unwrap().int();
    let buckets = map_get(entry, "histogram_usec").unwrap();
    let pairs = buckets
        .kids
        .chunks(2)
        .map(|kv| (kv[0].int(), kv[1].int()))
        .collect();
    Some((calls, pairs))
}

#[test]
fn latency_histogram_counts_every_command() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    assert_eq!(c.call(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let h = call(&mut c, &["LATENCY", "HISTOGRAM"]);
    assert_eq!(map_keys(&h), vec!["config|resetstat"]);

    c.call(&["SET", "a", "b"]);
    c.call(&["SET", "c", "d"]);
    c.call(&["GET", "a"]);
    c.call(&["CLIENT", "ID"]);
    c.call(&["CLIENT", "GETNAME"]);
    let all = call(&mut c, &["LATENCY", "HISTOGRAM"]);
    let (calls, buckets) = histogram_of(&all, "set").unwrap();
    assert_eq!(calls, 2);
    // Cumulative counts at power-of-two bucket tops, ending at the total.
    assert!(!buckets.is_empty());
    assert!(buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    assert_eq!(buckets.last().unwrap().1, 2);
    assert!(buckets.iter().all(|(us, _)| [
        1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266,
        270532, 541065, 1073741
    ]
    .contains(us)));

    // A container stands for its subcommands; unknown names are skipped.
    let some = call(&mut c, &["LATENCY", "HISTOGRAM", "blabla", "client", "GET"]);
    let mut names = map_keys(&some);
    names.sort();
    assert_eq!(names, vec!["client|getname", "client|id", "get"]);
    let one = call(&mut c, &["LATENCY", "HISTOGRAM", "client|id"]);
    assert_eq!(map_keys(&one), vec!["client|id"]);
    assert_eq!(histogram_of(&one, "client|id").unwrap().0, 1);

    // RESP3: maps all the way down.
    c.call(&["HELLO", "3"]);
    let r3 = call(&mut c, &["LATENCY", "HISTOGRAM", "set"]);
    assert_eq!(r3.head, b"%1\r\n");
    let set = map_get(&r3, "set").unwrap();
    assert_eq!(set.head, b"%2\r\n");
    assert_eq!(map_get(set, "histogram_usec").unwrap().head[0], b'%');

    assert_eq!(c.call(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let after = call(&mut c, &["LATENCY", "HISTOGRAM", "set", "get"]);
    assert!(after.kids.is_empty(), "{:?}", after);
}

/// `latency_percentiles_usec_<cmd>:...` of INFO latencystats, if present.
fn percentiles(c: &mut Raw, cmd: &str) -> Option<String> {
    info_field(
        &info(c, "latencystats"),
        &format!("latency_percentiles_usec_{cmd}"),
    )
}

#[test]
fn info_latencystats_follows_the_configuration() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let text = info(&mut c, "latencystats");
    assert!(text.starts_with("# Latencystats\r\n"), "{text}");
    assert!(!info(&mut c, "default").contains("Latencystats"));
    assert!(info(&mut c, "all").contains("# Latencystats"));

    c.call(&["CONFIG", "RESETSTAT"]);
    c.call(&["CONFIG", "SET", "latency-tracking", "no"]);
    c.call(&["SET", "a", "b"]);
    assert_eq!(percentiles(&mut c, "set"), None);
    c.call(&["CONFIG", "SET", "latency-tracking", "yes"]);
    c.call(&["SET", "a", "b"]);
    let line = percentiles(&mut c, "set").expect("set line");
    let parts: Vec<&str> = line.split(',').collect();
    assert_eq!(parts.len(), 3, "{line}");
    for (part, name) in parts.iter().zip(["p50=", "p99=", "p99.9="]) {
        let v = part.strip_prefix(name).unwrap_or_else(|| panic!("{line}"));
        // Three decimals, as Redis prints them.
        assert_eq!(v.split('.').nth(1).map(str::len), Some(3), "{line}");
        assert!(v.parse::<f64>().unwrap() > 0.0);
    }
    assert!(percentiles(&mut c, "config|set").is_some());

    c.call(&[
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "0.0 50.0 100.0",
    ]);
    let line = percentiles(&mut c, "set").unwrap();
    assert!(
        line.starts_with("p0=") && line.contains(",p50=") && line.contains(",p100="),
        "{line}"
    );
    c.call(&["CONFIG", "SET", "latency-tracking-info-percentiles", ""]);
    assert_eq!(percentiles(&mut c, "set").as_deref(), Some(""));
    c.call(&["CONFIG", "SET", "latency-tracking-info-percentiles", "50"]);

    // A slow command's p50 reflects its duration (DEBUG SLEEP 50 ms).
    c.call(&["CONFIG", "RESETSTAT"]);
    c.call(&["DEBUG", "SLEEP", "0.05"]);
    c.call(&["SET", "k", "v"]);
    let p50 = |c: &mut Raw, cmd: &str| -> f64 {
        percentiles(c, cmd)
            .unwrap()
            .strip_prefix("p50=")
            .unwrap()
            .parse()
            .unwrap()
    };
    let debug = p50(&mut c, "debug");
    assert!((50_000.0..500_000.0).contains(&debug), "{debug}");
    assert!(p50(&mut c, "set") < debug);

    // A blocking command is counted once, when it is served.
    c.call(&["CONFIG", "RESETSTAT"]);
    let mut waiter = node.raw();
    waiter.cmd(&[b"BLPOP", b"list", b"0"]);
    common::wait_until(std::time::Duration::from_secs(5), "blocked", || {
        info_field(&info(&mut c, "clients"), "blocked_clients").as_deref() == Some("1")
    });
    assert_eq!(percentiles(&mut c, "blpop"), None);
    c.call(&["LPUSH", "list", "x"]);
    waiter.read_reply();
    let h = call(&mut c, &["LATENCY", "HISTOGRAM", "blpop"]);
    assert_eq!(histogram_of(&h, "blpop").map(|h| h.0), Some(1));

    c.call(&["CONFIG", "RESETSTAT"]);
    assert_eq!(percentiles(&mut c, "set"), None);
}

#[test]
fn latency_monitor_records_slow_commands() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    // Off by default: nothing recorded, and the doctor says how to enable it.
    c.call(&["DEBUG", "SLEEP", "0.05"]);
    assert_eq!(c.call(&["LATENCY", "LATEST"]), b"*0\r\n");
    assert!(call(&mut c, &["LATENCY", "DOCTOR"])
        .text()
        .contains("Latency monitoring is disabled"));

    c.call(&["CONFIG", "SET", "latency-monitor-threshold", "100"]);
    assert!(call(&mut c, &["LATENCY", "DOCTOR"])
        .text()
        .contains("no latency spike was observed"));
    c.call(&["DEBUG", "SLEEP", "0.02"]); // under the threshold
    assert_eq!(c.call(&["LATENCY", "LATEST"]), b"*0\r\n");
    c.call(&["DEBUG", "SLEEP", "0.15"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.call(&["DEBUG", "SLEEP", "0.25"]);

    let latest = call(&mut c, &["LATENCY", "LATEST"]);
    assert_eq!(latest.kids.len(), 1);
    let ev = &latest.kids[0];
    assert_eq!(ev.kids[0].text(), "command");
    let (time, last, max) = (ev.kids[1].int(), ev.kids[2].int(), ev.kids[3].int());
    assert!((250..1000).contains(&last), "{last}");
    assert!(max >= last);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - time).abs() <= 2);

    let history = call(&mut c, &["LATENCY", "HISTORY", "command"]);
    assert_eq!(history.kids.len(), 2);
    let first = history.kids[0].kids[1].int();
    assert!((150..1000).contains(&first), "{first}");
    assert_eq!(max, first.max(last));
    assert_eq!(history.kids[1].kids[0].int(), time);
    // HISTORY matches the event name exactly, as in Redis.
    assert_eq!(c.call(&["LATENCY", "HISTORY", "COMMAND"]), b"*0\r\n");

    let graph = call(&mut c, &["LATENCY", "GRAPH", "command"]).text();
    assert!(
        graph.starts_with(&format!(
            "command - high {} ms, low {} ms (all time high {max} ms)\n",
            first.max(last),
            first.min(last)
        )),
        "{graph}"
    );
    assert!(graph.contains(&"-".repeat(80)));

    let doctor = call(&mut c, &["LATENCY", "DOCTOR"]).text();
    assert!(
        doctor.contains("1. command: 2 latency spikes (average "),
        "{doctor}"
    );
    assert!(doctor.contains("Worst all time event "), "{doctor}");
    assert!(doctor.contains("- Check your Slow Log"), "{doctor}");

    assert_eq!(c.call(&["LATENCY", "RESET", "COMMAND"]), b":1\r\n");
    assert_eq!(c.call(&["LATENCY", "LATEST"]), b"*0\r\n");
    assert_eq!(
        show(&c.call(&["LATENCY", "GRAPH", "command"])),
        "-ERR No samples available for event 'command'\r\n"
    );
}

#[test]
fn percentiles_from_a_config_file_take_several_words() {
    let dir = common::TempDir::new("introspection");
    let conf = dir.path("node.conf");
    std::fs::write(&conf, "latency-tracking-info-percentiles 25 75.5 100.0\n").unwrap();
    let node = start_ferrocache(&["--config", conf.to_str().unwrap()]);
    let mut c = node.raw();
    assert_eq!(
        show(&c.call(&["CONFIG", "GET", "latency-tracking-info-percentiles"])),
        "*2\r\n$33\r\nlatency-tracking-info-percentiles\r\n$11\r\n25 75.5 100\r\n"
    );
    c.call(&["SET", "a", "b"]);
    let line = percentiles(&mut c, "set").unwrap();
    assert!(
        line.starts_with("p25=") && line.contains(",p75.5=") && line.contains(",p100="),
        "{line}"
    );
    // CONFIG REWRITE keeps it (an empty list too) for the next start.
    c.call(&["CONFIG", "SET", "latency-tracking-info-percentiles", ""]);
    assert_eq!(c.call(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    drop(node);
    let node = start_ferrocache(&["--config", conf.to_str().unwrap()]);
    let mut c = node.raw();
    c.call(&["SET", "a", "b"]);
    assert_eq!(percentiles(&mut c, "set").as_deref(), Some(""));
}
