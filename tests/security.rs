//! Node-level protections, each checked against redis-server 7 with the
//! same settings: protected mode (a node without a password refuses clients
//! that do not come from the loopback interface), `rename-command` from the
//! configuration file, and the `enable-debug-command` /
//! `enable-protected-configs` switches a managed deployment turns off.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{
    encode, ferrocache_startup_failure, show, start_ferrocache, start_redis_with, Proc, TempDir,
};

/// An address of this machine that is not a loopback address (connecting to
/// it from here gives a non-loopback peer address).
fn non_loopback_address() -> IpAddr {
    let out = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|a| a.is_ipv4() && !a.is_loopback())
        .expect("this test needs a non-loopback IPv4 address on the machine")
}

/// Sends `args` from `from`'s side to `port` on `host` and reads what comes
/// back until the reply ends or the server closes.
fn call_from(host: IpAddr, port: u16, args: &[&str]) -> String {
    let mut s = TcpStream::connect((host, port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    s.write_all(&encode(&argv)).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn both(extra: &[&str]) -> (Proc, Proc) {
    let ours = start_ferrocache(&[&["--save", ""], extra].concat());
    let theirs = start_redis_with(None, extra);
    (ours, theirs)
}

#[test]
fn protected_mode_refuses_external_clients_as_redis_does() {
    let external = non_loopback_address();
    let (ours, theirs) = both(&["--bind", "0.0.0.0"]);
    let denied = call_from(external, theirs.port, &["PING"]);
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode"),
        "{denied}"
    );
    assert_eq!(call_from(external, ours.port, &["PING"]), denied);
    // Loopback clients are served.
    for node in [&ours, &theirs] {
        assert_eq!(node.raw().call(&["PING"]), b"+PONG\r\n");
    }
    // With a password, external clients may connect (and must log in).
    for node in [&ours, &theirs] {
        assert_eq!(
            node.raw().call(&["CONFIG", "SET", "requirepass", "s3cret"]),
            b"+OK\r\n"
        );
    }
    let noauth = call_from(external, theirs.port, &["PING"]);
    assert!(noauth.starts_with("-NOAUTH"), "{noauth}");
    assert_eq!(call_from(external, ours.port, &["PING"]), noauth);
    // Protected mode off: no password needed from anywhere.
    for node in [&ours, &theirs] {
        let mut admin = node.raw();
        assert_eq!(admin.call(&["AUTH", "s3cret"]), b"+OK\r\n");
        assert_eq!(
            admin.call(&["CONFIG", "SET", "requirepass", "", "protected-mode", "no"]),
            b"+OK\r\n"
        );
        assert_eq!(call_from(external, node.port, &["PING"]), "+PONG\r\n");
    }
}

#[test]
fn rename_command_in_the_config_file_matches_redis() {
    let dir = TempDir::new("rename-command");
    let conf = dir.path("node.conf");
    std::fs::write(
        &conf,
        "rename-command CONFIG \"\"\nrename-command flushall WIPE-EVERYTHING\nrename-command DEBUG \"\"\n",
    )
    .expect("config file");
    let conf = conf.to_str().expect("utf-8");
    let ours = start_ferrocache(&["--config", conf, "--save", ""]);
    let theirs = start_redis_with(Some(conf), &[]);
    let script: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["CONFIG", "GET", "port"],
        &["config", "set", "maxmemory", "1"],
        &["FLUSHALL"],
        &["DBSIZE"],
        &["wipe-everything"],
        &["DBSIZE"],
        &["DEBUG", "SLEEP", "0"],
        // ACL rules name commands by their original names.
        &[
            "ACL",
            "SETUSER",
            "ops",
            "on",
            "nopass",
            "+flushall",
            "+config|get",
            "~*",
        ],
        &["ACL", "DRYRUN", "ops", "wipe-everything"],
        &["EVAL", "return redis.call('flushall')", "0"],
        &["MULTI"],
        &["CONFIG", "GET", "port"],
        &["EXEC"],
    ];
    let (mut a, mut b) = (ours.raw(), theirs.raw());
    for args in script {
        let (x, y) = (a.call(args), b.call(args));
        assert_eq!(show(&x), show(&y), "{args:?}");
    }
}

#[test]
fn rename_command_of_an_unknown_command_stops_the_start() {
    let dir = TempDir::new("rename-unknown");
    let conf = dir.path("node.conf");
    std::fs::write(&conf, "rename-command NOSUCHCOMMAND other\n").expect("config file");
    let (status, stderr) =
        ferrocache_startup_failure(&["--config", conf.to_str().expect("utf-8"), "--port", "0"]);
    assert!(!status.success());
    assert!(
        stderr.contains("No such command in rename-command"),
        "{stderr}"
    );
    assert!(stderr.contains("line 1"), "{stderr}");
}

#[test]
fn debug_and_protected_configs_can_be_switched_off() {
    let (ours, theirs) = both(&[
        "--enable-debug-command",
        "no",
        "--enable-protected-configs",
        "no",
    ]);
    let (mut a, mut b) = (ours.raw(), theirs.raw());
    for args in [
        &["DEBUG", "SLEEP", "0"][..],
        &["CONFIG", "SET", "dir", "/tmp"],
        &["CONFIG", "SET", "dbfilename", "other.rdb"],
        &["CONFIG", "GET", "enable-debug-command"],
    ] {
        let (x, y) = (a.call(args), b.call(args));
        assert_eq!(show(&x), show(&y), "{args:?}");
    }
    assert!(show(&a.call(&["DEBUG", "SLEEP", "0"])).starts_with("-ERR DEBUG command not allowed"));
}

/// `client-output-buffer-limit normal`: a client that sends requests
/// without reading its replies is closed once they pass the hard limit (or
/// stay over the soft limit for its seconds), on both servers.
#[test]
fn normal_clients_are_cut_off_at_their_output_buffer_limit() {
    for limit in ["normal 1mb 0 0", "normal 0 256kb 1"] {
        let (ours, theirs) = both(&[]);
        for (name, node) in [("ferrocache", &ours), ("redis", &theirs)] {
            let mut admin = node.raw();
            assert_eq!(
                admin.call(&["CONFIG", "SET", "client-output-buffer-limit", limit]),
                b"+OK\r\n"
            );
            let value = "v".repeat(100_000);
            assert_eq!(admin.call(&["SET", "big", &value]), b"+OK\r\n");
            let mut greedy = TcpStream::connect(("127.0.0.1", node.port)).expect("connect");
            // Registered (and counted) before it misbehaves.
            greedy.write_all(&encode(&[b"PING"])).expect("write");
            let mut pong = [0u8; 7];
            greedy.read_exact(&mut pong).expect("PONG");
            let batch: Vec<u8> = (0..400).flat_map(|_| encode(&[b"GET", b"big"])).collect();
            greedy.write_all(&batch).expect("write");
            // Meanwhile the node serves others, and cuts the greedy one off.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            // (redis-server 7.0 has no client_output_buffer_limit_disconnections
            // counter: the client count tells.)
            let disconnected = loop {
                let info = String::from_utf8(admin.call(&["INFO", "clients"])).expect("utf-8");
                if common::info_field(&info, "connected_clients").as_deref() == Some("1") {
                    break true;
                }
                if std::time::Instant::now() > deadline {
                    break false;
                }
                // Writes fail once the node has closed the connection.
                let _ = greedy.write_all(&batch[..batch.len() / 40]);
                std::thread::sleep(Duration::from_millis(100));
            };
            assert!(disconnected, "{name}, {limit}");
            if name == "ferrocache" {
                let info = String::from_utf8(admin.call(&["INFO", "stats"])).expect("utf-8");
                let field = common::info_field(&info, "client_output_buffer_limit_disconnections");
                assert_eq!(field.as_deref(), Some("1"), "{limit}");
            }
            assert_eq!(admin.call(&["PING"]), b"+PONG\r\n");
        }
    }
}
