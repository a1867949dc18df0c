//! Functions end to end, against a real redis-server (7.0): the library
//! loading environment, `redis.register_function`'s errors, the FUNCTION
//! LOAD time limit, FUNCTION FLUSH / LIST / STATS arguments, and FUNCTION
//! DUMP / RESTORE.
//!
//! Most tests are differential (the shared harness of tests/common/diff.rs):
//! the same command lines go to both servers over RESP2 and RESP3 and the
//! replies are compared byte for byte. FUNCTION DUMP payloads are compared
//! byte for byte too when there is one library (with several, Redis writes
//! them in hash-table order), and payloads cross over: what redis-server
//! dumps must restore in Ferrocache and run, and the reverse. Hand-made
//! payloads (built with the `rdb` crate) check RESTORE's error paths and the
//! old 7.0-rc library format on both servers.
//!
//! A missing redis-server is a failure, not a skip. Not covered: RESTORE
//! under `maxmemory` (OOM), replication of functions.

mod common;

use common::diff::{describe, normalize, show, sort_function_list, Diff, Line, Node};

fn fnlist(reply: &[u8]) -> Vec<u8> {
    normalize(reply, sort_function_list)
}

/// Runs `lines` over RESP2 and RESP3, each time after FUNCTION FLUSH and
/// FLUSHALL. A `~fnlist` line is a FUNCTION LIST compared after
/// [`sort_function_list`].
fn check_fn(name: &'static str, lines: &[Line]) {
    let mut d = Diff::new(name);
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.line(&["~skip", "FUNCTION", "FLUSH"]);
        for l in lines {
            if l.first() == Some(&"~fnlist") {
                let (r, f) = d.both(&l[1..]);
                d.compared += 1;
                if fnlist(&r) != fnlist(&f) {
                    d.fail(&describe(l), &show(&fnlist(&r)), &show(&fnlist(&f)));
                }
            } else {
                d.line(l);
            }
        }
    }
    d.finish();
}

/// Sends binary arguments to both servers; returns (redis, ferrocache).
fn both_raw(d: &mut Diff, args: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
    d.r.cmd(args);
    d.f.cmd(args);
    (d.r.read_reply(), d.f.read_reply())
}

/// Sends binary arguments to both servers and compares the replies.
fn same_raw(d: &mut Diff, label: &str, args: &[&[u8]]) {
    let (r, f) = both_raw(d, args);
    d.compared += 1;
    if r != f {
        d.fail(label, &show(&r), &show(&f));
    }
}

/// The body of a bulk reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    assert_eq!(reply[0], b'$', "not a bulk reply: {}", show(reply));
    let n = Node::parse_exact(reply);
    n.body[..n.body.len() - 2].to_vec()
}

/// A FUNCTION RESTORE payload of library `codes` (opcode FUNCTION2), with
/// the footer Redis expects.
fn payload(codes: &[&[u8]]) -> Vec<u8> {
    let mut p = Vec::new();
    for code in codes {
        p.push(rdb::OPCODE_FUNCTION2);
        rdb::encoding::write_string(&mut p, code, true);
    }
    rdb::dump::seal(&mut p);
    p
}

const LIB1: &str = "#!lua name=lib1\nlocal function add1(a) return a + 1 end\n\
redis.register_function('f1', function(keys, args) return add1(1) end)\n\
redis.register_function{function_name='f2', callback=function(keys, args) return add1(2) end, \
flags={'allow-stale', 'no-writes'}, description='adds two'}\n\
redis.register_function('f3', function(keys, args) return add1(3) end)\n";

const LIB2: &str = "#!lua name=lib2\nredis.register_function('f4', function() return 'four' end)";

// ---------------------------------------------------------------------------
// Loading: environment, register_function, metadata, time limit
// ---------------------------------------------------------------------------

#[test]
fn differential_load_time_environment() {
    check_fn(
        "library load environment",
        &[
            // Only `redis` exists while loading, and only its load API.
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn math.random()"],
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn redis.call('ping')"],
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn redis.pcall('ping')"],
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn redis.setresp(3)"],
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn redis.set_repl(redis.REPL_NONE)"],
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn redis.sha1hex('x')"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.math.random()"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.redis.call('ping')"],
            &["FUNCTION", "LOAD", "#!lua name=l\nmt = getmetatable(_G)"],
            &["FUNCTION", "LOAD", "#!lua name=l\nlocal g = _G"],
            &["FUNCTION", "LOAD", "#!lua name=l\nlocal s = string.len('a')"],
            &["FUNCTION", "LOAD", "#!lua name=l\nerror('boom')"],
            &["FUNCTION", "LOAD", "#!lua name=l\npcall(function() end)"],
            // Globals and the load API are read-only.
            &["FUNCTION", "LOAD", "#!lua name=l\na = 1"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.x = 1"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.log(redis.LOG_WARNING)"],
            // log, the log levels and locals work.
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=l\nredis.log(redis.LOG_NOTICE, 'loading')\n\
                 local levels = redis.LOG_DEBUG + redis.LOG_VERBOSE + redis.LOG_NOTICE + redis.LOG_WARNING\n\
                 redis.register_function('lv', function() return levels end)",
            ],
            &["FCALL", "lv", "0"],
            // Once loaded, functions see the normal globals and redis API...
            &[
                "FUNCTION",
                "LOAD",
                "REPLACE",
                "#!lua name=l\nredis.register_function('g', function(keys, args) \
                 return {math.floor(2.5), redis.call('ping'), string.rep('a', 2), #keys, args[1]} end)",
            ],
            &["FCALL", "g", "1", "k", "arg"],
            // ... but cannot create globals or register functions.
            &[
                "FUNCTION",
                "LOAD",
                "REPLACE",
                "#!lua name=l\nredis.register_function('g', function() x = 1 end)\n\
                 redis.register_function('h', function() return nosuch end)\n\
                 redis.register_function('r', function() redis.register_function('z', function() return 2 end) return 1 end)",
            ],
            &["FCALL", "g", "0"],
            &["FCALL", "h", "0"],
            &["FCALL", "r", "0"],
            &["~fnlist", "FUNCTION", "LIST"],
        ],
    );
}

#[test]
fn differential_malicious_access() {
    check_fn(
        "load api kept out of functions",
        &[
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib1\nlocal lib = redis\n\
                 lib.register_function('f1', function() lib.redis = redis lib.math = math return {ok='OK'} end)\n\
                 lib.register_function('f2', function() lib.register_function('f1', function() return 1 end) end)\n\
                 lib.register_function('f3', function() return lib.LOG_WARNING end)\n\
                 lib.register_function('f4', function() return lib.nosuch end)",
            ],
            &["FCALL", "f1", "0"],
            &["FCALL", "f2", "0"],
            &["FCALL", "f3", "0"],
            &["FCALL", "f4", "0"],
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=t\nredis.register_function('t', function() \
                 mt = getmetatable(_G) original_globals = mt.__index original_globals['redis'] = function() return 1 end end)",
            ],
            &["FCALL", "t", "0"],
            &["FUNCTION", "STATS"],
        ],
    );
}

#[test]
fn differential_register_function_errors() {
    let load = |code: &'static str| -> [&'static str; 4] { ["FUNCTION", "LOAD", "REPLACE", code] };
    let cases: &[&str] = &[
        "#!lua name=l\nredis.register_function()",
        "#!lua name=l\nredis.register_function('f1')",
        "#!lua name=l\nredis.register_function('f1', function() return 1 end, {}, 'd', 'x')",
        "#!lua name=l\nredis.register_function('f1', function() return 1 end, 1)",
        "#!lua name=l\nredis.register_function(nil, function() return 1 end)",
        "#!lua name=l\nredis.register_function({}, function() return 1 end)",
        "#!lua name=l\nredis.register_function('f1', 'not a function')",
        "#!lua name=l\nredis.register_function('test\\0test', function() return 1 end)",
        "#!lua name=l\nredis.register_function('', function() return 1 end)",
        "#!lua name=l\nredis.register_function('a-b', function() return 1 end)",
        "#!lua name=l\nredis.register_function('f1', function() return 1 end)\n\
         redis.register_function('f1', function() return 2 end)",
        // A failed registration reverts the whole library.
        "#!lua name=l\nredis.register_function('f1', function() return 1 end)\n\
         redis.register_function('f2', 'not a function')",
        // Named arguments.
        "#!lua name=l\nredis.register_function{function_name=function() end, callback=function() return 1 end}",
        "#!lua name=l\nredis.register_function{function_name='f1', callback='bad'}",
        "#!lua name=l\nredis.register_function{function_name='f1', callback=function() end, description=function() end}",
        "#!lua name=l\nredis.register_function{function_name='f1', callback=function() end, some_unknown='x'}",
        "#!lua name=l\nredis.register_function{callback=function() end, description='d'}",
        "#!lua name=l\nredis.register_function{function_name='f1', description='d'}",
        "#!lua name=l\nredis.register_function{[{}]=1}",
        "#!lua name=l\nredis.register_function{[1]='f1'}",
        "#!lua name=l\nredis.register_function{function_name='f1', callback=function() end, flags='bad'}",
        "#!lua name=l\nredis.register_function{function_name='f1', callback=function() end, flags={function() end}}",
        "#!lua name=l\nredis.register_function{function_name='f1', callback=function() end, flags={'unknown'}}",
        "#!lua name=l\nreturn 1",
        "#!lua name=l\nbad script",
    ];
    let mut all: Vec<Vec<&str>> = cases.iter().map(|c| load(c).to_vec()).collect();
    all.push(vec!["FUNCTION", "STATS"]);
    // What loads: numbers as names and descriptions, keys and flags in any
    // case, flags listed in Redis's order without duplicates.
    let good: &[&str] = &[
        "#!lua name=l\nredis.register_function(12, function() return 12 end)",
        "#!lua name=l\nredis.register_function{FUNCTION_NAME='f1', CallBack=function() return 1 end, \
         Description=5, FLAGS={'NO-WRITES', 'allow-cross-slot-keys', 'no-cluster', 'allow-oom', 'allow-stale', 'no-writes'}}",
        "#!lua name=l\nredis.register_function{function_name='f1', callback=function() return 1 end, flags={}}",
    ];
    for g in good {
        all.push(load(g).to_vec());
        all.push(vec!["FUNCTION", "LIST"]);
        all.push(vec!["FCALL", "f1", "0"]);
        all.push(vec!["FCALL_RO", "f1", "0"]);
    }
    let refs: Vec<&[&str]> = all.iter().map(Vec::as_slice).collect();
    check_fn("register_function errors", &refs);
}

#[test]
fn differential_library_metadata_and_collisions() {
    check_fn(
        "library metadata and name collisions",
        &[
            &["FUNCTION", "LOAD", "return 1"],
            &["FUNCTION", "LOAD", "#!lua name=x"],
            &["FUNCTION", "LOAD", "#!lua name=\"x\nreturn 1"],
            &["FUNCTION", "LOAD", "#! name=test\nreturn 1"],
            &["FUNCTION", "LOAD", "#!bad_engine name=test\nreturn 1"],
            &["FUNCTION", "LOAD", "#!bad_engine name=a-b\nreturn 1"],
            &["FUNCTION", "LOAD", "#!lua\nreturn 1"],
            &["FUNCTION", "LOAD", "#!lua name=foo name=bar\nreturn 1"],
            &["FUNCTION", "LOAD", "#!lua name=test foo=bar\nreturn 1"],
            &["FUNCTION", "LOAD", "#!lua name=bad\\0format\nreturn 1"],
            &[
                "FUNCTION",
                "LOAD",
                "#!LUA NAME=\"quoted\"\nredis.register_function('q', function() return 'q' end)",
            ],
            &["FCALL", "Q", "0"],
            &["FUNCTION", "LOAD", "foo", "bar", "#!lua name=x\nreturn 1"],
            &["FUNCTION", "LOAD", LIB1],
            // The library exists: refused before its code runs.
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib1\nlocal a = 1 while 1 do a = a + 1 end",
            ],
            &["FUNCTION", "LOAD", LIB1],
            // Function names collide across libraries, case-insensitively.
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib2\nredis.register_function('F1', function() return 1 end)",
            ],
            &["FCALL", "f1", "0"],
            &["FCALL", "F2", "0"],
            &["FCALL_RO", "f2", "0"],
            &["FCALL_RO", "f1", "0"],
            &["FCALL", "nosuch", "0"],
            &["FCALL", "nosuch", "bad"],
            &["FCALL", "f1", "bad"],
            &["FCALL", "f1", "10", "k"],
            &["FCALL", "f1", "-1", "k"],
            &["~fnlist", "FUNCTION", "LIST"],
            &["FUNCTION", "STATS"],
        ],
    );
}

#[test]
fn differential_load_timeout_leaves_interpreter_usable() {
    check_fn(
        "function load timeout",
        &[
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nlocal a = 1\nwhile 1 do a = a + 1 end",
            ],
            &["FUNCTION", "LIST"],
            &["EVAL", "return 7", "0"],
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nredis.register_function('f', function() return 'fine' end)",
            ],
            &["FCALL", "f", "0"],
            // A timed-out REPLACE keeps the old library.
            &[
                "FUNCTION",
                "LOAD",
                "REPLACE",
                "#!lua name=lib\nredis.register_function('f', function() return 'new' end)\n\
                 local a = 1 while 1 do a = a + 1 end",
            ],
            &["FCALL", "f", "0"],
            &["FUNCTION", "STATS"],
        ],
    );
}

#[test]
fn differential_flush_list_stats_arguments() {
    check_fn(
        "function flush, list and stats arguments",
        &[
            &["FUNCTION", "FLUSH", "bad_arg"],
            &["FUNCTION", "FLUSH", "sync", "extra_arg"],
            &["FUNCTION", "flush", "SYNC", "extra_arg"],
            &["FUNCTION", "LOAD", LIB1],
            &["FUNCTION", "LOAD", LIB2],
            &["FUNCTION", "STATS"],
            &["~fnlist", "FUNCTION", "LIST"],
            &["~fnlist", "FUNCTION", "LIST", "WITHCODE"],
            &["~fnlist", "FUNCTION", "LIST", "LIBRARYNAME", "LIB1"],
            &[
                "~fnlist",
                "FUNCTION",
                "LIST",
                "libraryname",
                "*2",
                "withcode",
            ],
            &["FUNCTION", "LIST", "bad_argument"],
            &["FUNCTION", "LIST", "libraryname"],
            &["FUNCTION", "LIST", "withcode", "withcode"],
            &[
                "FUNCTION",
                "LIST",
                "withcode",
                "libraryname",
                "foo",
                "libraryname",
                "foo",
            ],
            &["FUNCTION", "LIST", "X\r\n+INJECTED"],
            &["FUNCTION", "DELETE", "lib1"],
            &["FUNCTION", "DELETE", "lib1"],
            &["FUNCTION", "STATS"],
            &["FUNCTION", "FLUSH", "ASYNC"],
            &["FUNCTION", "STATS"],
            &["FUNCTION", "STATS", "x"],
            &["FUNCTION", "HELP"],
        ],
    );
}

// ---------------------------------------------------------------------------
// FUNCTION DUMP / RESTORE
// ---------------------------------------------------------------------------

#[test]
fn differential_dump_bytes_and_restore_errors() {
    check_fn(
        "function dump and restore errors",
        &[
            // An empty dump: the footer alone.
            &["FUNCTION", "DUMP"],
            &["FUNCTION", "LOAD", LIB1],
            // One library: the same bytes (LZF-compressed code included).
            &["FUNCTION", "DUMP"],
            &["~skip", "CONFIG", "SET", "rdbcompression", "no"],
            &["FUNCTION", "DUMP"],
            &["~skip", "CONFIG", "SET", "rdbcompression", "yes"],
            &["FUNCTION", "DUMP", "x"],
            &["FUNCTION", "RESTORE"],
            &["FUNCTION", "RESTORE", "bad_payload"],
            &["FUNCTION", "RESTORE", "arg1", "args2", "arg3"],
            &["FUNCTION", "restore", "arg1", "args2", "arg3"],
            &["FUNCTION", "RESTORE", "bad_payload", "BADPOLICY"],
            &["FUNCTION", "RESTORE", ""],
            // A failed restore keeps the libraries.
            &["~fnlist", "FUNCTION", "LIST"],
        ],
    );

    let mut d = Diff::new("function restore of hand-made payloads");
    let lib_a: &[u8] = b"#!lua name=a\nredis.register_function('fa', function() return 'a' end)";
    let lib_b: &[u8] = b"#!lua name=b\nredis.register_function('fb', function() return 'b' end)";
    let mut old_format = vec![rdb::OPCODE_FUNCTION];
    for s in [&b"old"[..], b"LUA"] {
        rdb::encoding::write_string(&mut old_format, s, true);
    }
    rdb::encoding::write_len(&mut old_format, 1);
    rdb::encoding::write_string(&mut old_format, b"a description", true);
    rdb::encoding::write_string(
        &mut old_format,
        b"redis.register_function('fold', function() return 'old' end)",
        true,
    );
    rdb::dump::seal(&mut old_format);
    let mut bad_type = vec![0u8];
    rdb::encoding::write_string(&mut bad_type, b"x", false);
    rdb::dump::seal(&mut bad_type);
    let mut truncated = vec![rdb::OPCODE_FUNCTION2, 0x30, b'#'];
    rdb::dump::seal(&mut truncated);
    // An LZF string whose data does not expand to its stated length.
    let mut bad_lzf = vec![rdb::OPCODE_FUNCTION2, 0xc3, 2, 40, 0x00, b'#'];
    rdb::dump::seal(&mut bad_lzf);
    let mut newer = payload(&[lib_a]);
    let n = newer.len();
    newer[n - 10] = 200; // an RDB version from the future
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("two libraries", payload(&[lib_a, lib_b])),
        ("library twice", payload(&[lib_a, lib_a])),
        (
            "function twice",
            payload(&[
                lib_a,
                b"#!lua name=c\nredis.register_function('FA', function() end)",
            ]),
        ),
        (
            "code that fails",
            payload(&[b"#!lua name=c\nreturn math.pi"]),
        ),
        (
            "code that does not compile",
            payload(&[b"#!lua name=c\nbad code"]),
        ),
        ("no metadata", payload(&[b"return 1"])),
        ("old 7.0-rc format", old_format),
        ("not a function", bad_type),
        ("truncated", truncated),
        ("corrupt LZF", bad_lzf),
        ("newer RDB version", newer),
    ];
    for proto in [2, 3] {
        d.reconnect(proto);
        for (label, p) in &cases {
            for policy in [&b"FLUSH"[..], b"APPEND", b"REPLACE"] {
                both_raw(&mut d, &[b"FUNCTION", b"FLUSH"]);
                both_raw(&mut d, &[b"FUNCTION", b"LOAD", LIB2.as_bytes()]);
                let what = format!(
                    "FUNCTION RESTORE <{label}> {}",
                    String::from_utf8_lossy(policy)
                );
                same_raw(&mut d, &what, &[b"FUNCTION", b"RESTORE", p, policy]);
                let (r, f) = both_raw(&mut d, &[b"FUNCTION", b"LIST", b"WITHCODE"]);
                d.compared += 1;
                if fnlist(&r) != fnlist(&f) {
                    d.fail(&format!("FUNCTION LIST after {what}"), &show(&r), &show(&f));
                }
                for name in [&b"fa"[..], b"fb", b"fold", b"f4"] {
                    same_raw(
                        &mut d,
                        &format!("FCALL after {what}"),
                        &[b"FCALL", name, b"0"],
                    );
                }
            }
        }
    }
    d.finish();
}

/// Loads `libs` on one server, dumps, restores the payload on the other,
/// and checks that the libraries arrived whole and run.
fn cross_restore(d: &mut Diff, from_redis: bool, libs: &[&str]) {
    let (src, dst) = if from_redis {
        (&mut d.r, &mut d.f)
    } else {
        (&mut d.f, &mut d.r)
    };
    src.cmd(&[b"FUNCTION", b"FLUSH"]);
    src.read_reply();
    dst.cmd(&[b"FUNCTION", b"FLUSH"]);
    dst.read_reply();
    for lib in libs {
        src.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]);
        assert_eq!(src.read_reply()[0], b'$');
    }
    src.cmd(&[b"FUNCTION", b"DUMP"]);
    let dump = bulk(&src.read_reply());
    dst.cmd(&[b"FUNCTION", b"RESTORE", &dump]);
    let way = if from_redis {
        "redis-server -> ferrocache"
    } else {
        "ferrocache -> redis-server"
    };
    assert_eq!(dst.read_reply(), b"+OK\r\n", "{way}: RESTORE refused");
    src.cmd(&[b"FUNCTION", b"LIST", b"WITHCODE"]);
    let src_list = fnlist(&src.read_reply());
    dst.cmd(&[b"FUNCTION", b"LIST", b"WITHCODE"]);
    let dst_list = fnlist(&dst.read_reply());
    assert_eq!(
        String::from_utf8_lossy(&src_list),
        String::from_utf8_lossy(&dst_list),
        "{way}: libraries differ after RESTORE"
    );
    // The restored functions run, on fresh connections too (every worker
    // thread of Ferrocache loads them).
    d.reconnect(2);
    for (f, want) in [
        ("f1", ":2\r\n"),
        ("f2", ":3\r\n"),
        ("F3", ":4\r\n"),
        ("f4", "$4\r\nfour\r\n"),
    ] {
        let (r, fc) = d.both(&["FCALL", f, "0"]);
        assert_eq!(String::from_utf8_lossy(&r), want, "{way}: redis FCALL {f}");
        assert_eq!(
            String::from_utf8_lossy(&fc),
            want,
            "{way}: ferrocache FCALL {f}"
        );
    }
    let (r, fc) = d.both(&["FCALL_RO", "f2", "0"]);
    assert_eq!(
        (r.as_slice(), fc.as_slice()),
        (&b":3\r\n"[..], &b":3\r\n"[..]),
        "{way}"
    );
    d.compared += 1;
}

#[test]
fn dump_payloads_cross_between_redis_and_ferrocache() {
    let mut d = Diff::new("function dump payloads crossing servers");
    // A long library too, so its code is certainly LZF-compressed.
    let big = format!(
        "{LIB2}\n{}",
        (0..200)
            .map(|i| format!("local v{i} = {i} -- padding that compresses well\n"))
            .collect::<String>()
    );
    for libs in [vec![LIB1, LIB2], vec![LIB1, big.as_str()]] {
        cross_restore(&mut d, true, &libs);
        cross_restore(&mut d, false, &libs);
    }
    // Single libraries dump to the same bytes on both servers.
    for lib in [LIB1, LIB2, big.as_str()] {
        d.line(&["~skip", "FUNCTION", "FLUSH"]);
        d.line(&["~skip", "FUNCTION", "LOAD", lib]);
        d.line(&["FUNCTION", "DUMP"]);
    }
    d.finish();
}

#[test]
fn differential_restore_policies() {
    // The Redis suite's "function restore with function name collision",
    // each server restoring its own payload.
    let mut d = Diff::new("function restore policies");
    let lib1_other = "#!lua name=lib1\nredis.register_function('f6', function() return 7 end)";
    let lib3 = "#!lua name=lib3\nredis.register_function('F3', function() return 33 end)";
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FUNCTION", "FLUSH"]);
        d.line(&["FUNCTION", "LOAD", LIB1]);
        let (r, f) = both_raw(&mut d, &[b"FUNCTION", b"DUMP"]);
        let (rp, fp) = (bulk(&r), bulk(&f));
        let restore = |d: &mut Diff, label: &str, policy: Option<&str>| {
            let mut ra: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &rp];
            let mut fa: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &fp];
            if let Some(p) = policy {
                ra.push(p.as_bytes());
                fa.push(p.as_bytes());
            }
            d.r.cmd(&ra);
            d.f.cmd(&fa);
            let (r, f) = (d.r.read_reply(), d.f.read_reply());
            d.compared += 1;
            if r != f {
                d.fail(label, &show(&r), &show(&f));
            }
        };
        let steps: &[(&str, Option<&str>)] = &[
            // lib1 exists (other code): APPEND refuses the library...
            ("flush + lib1(f6) + lib3(F3), RESTORE", None),
            // ... REPLACE drops lib1 but f3 still clashes with lib3's F3.
            ("RESTORE REPLACE (clash)", Some("replace")),
            ("RESTORE APPEND (clash)", Some("APPEND")),
            ("RESTORE FLUSH", Some("FLUSH")),
            ("RESTORE REPLACE", Some("REPLACE")),
            ("RESTORE bad policy", Some("nope")),
        ];
        d.line(&["~skip", "FUNCTION", "FLUSH"]);
        d.line(&["FUNCTION", "LOAD", lib1_other]);
        d.line(&["FUNCTION", "LOAD", lib3]);
        for (label, policy) in steps {
            restore(&mut d, label, *policy);
            let (r, f) = d.both(&["FUNCTION", "LIST"]);
            d.compared += 1;
            if fnlist(&r) != fnlist(&f) {
                d.fail(
                    &format!("FUNCTION LIST after {label}"),
                    &show(&r),
                    &show(&f),
                );
            }
            for name in ["f1", "f3", "f6"] {
                d.line(&["FCALL", name, "0"]);
            }
            d.line(&["FUNCTION", "STATS"]);
        }
        // APPEND without a clash.
        d.line(&["~skip", "FUNCTION", "FLUSH"]);
        d.line(&["FUNCTION", "LOAD", LIB2]);
        restore(&mut d, "RESTORE APPEND (no clash)", Some("append"));
        for name in ["f1", "f4"] {
            d.line(&["FCALL", name, "0"]);
        }
        d.line(&["FUNCTION", "STATS"]);
    }
    d.finish();
}
