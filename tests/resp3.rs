//! RESP3 end to end: the `redis` crate speaking RESP3 (`?protocol=resp3`,
//! which sends HELLO 3 on connect), and raw-socket checks of the exact RESP3
//! encoding, compared with a real redis-server where the two should agree.

mod common;

use common::{show, start_ferrocache, start_redis, Raw};
use redis::Value;

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

/// A RESP3 map reply as (key, value) pairs with string keys.
fn map_pairs(v: Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(pairs) => pairs.into_iter().map(|(k, v)| (text(&k), v)).collect(),
        other => panic!("not a map: {other:?}"),
    }
}

fn field<'a>(pairs: &'a [(String, Value)], name: &str) -> &'a Value {
    &pairs
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no field {name} in {pairs:?}"))
        .1
}

#[test]
fn hello_3_map_fields_with_the_redis_crate() {
    let node = start_ferrocache(&[]);
    let mut c = node.client_resp3();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    let hello: Value = redis::cmd("HELLO").arg(3).query(&mut c).unwrap();
    let pairs = map_pairs(hello);
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["server", "version", "proto", "id", "mode", "role", "modules"]
    );
    assert_eq!(text(field(&pairs, "server")), "redis");
    assert_eq!(text(field(&pairs, "version")), "7.2.4");
    assert_eq!(field(&pairs, "proto"), &Value::Int(3));
    assert_eq!(field(&pairs, "id"), &Value::Int(id));
    assert_eq!(text(field(&pairs, "mode")), "standalone");
    assert_eq!(text(field(&pairs, "role")), "master");
    assert_eq!(field(&pairs, "modules"), &Value::Array(vec![]));
    // CLIENT INFO reports the protocol.
    let info: Value = redis::cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    assert!(
        matches!(&info, Value::VerbatimString { .. }),
        "CLIENT INFO is a verbatim string in RESP3: {info:?}"
    );
    assert!(text(&info).contains(" resp=3 "), "{info:?}");
}

#[test]
fn null_map_and_numeric_replies_with_the_redis_crate() {
    let node = start_ferrocache(&[]);
    let mut c = node.client_resp3();
    let missing: Value = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(missing, Value::Nil);
    let opt: Option<String> = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(opt, None);
    let cfg: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut c)
        .unwrap();
    let pairs = map_pairs(cfg);
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].0, "maxmemory");
    assert_eq!(text(&pairs[0].1), "0");
    let cfg: std::collections::HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory*")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        cfg.get("maxmemory-policy").map(String::as_str),
        Some("noeviction")
    );
    assert_eq!(cfg.get("maxmemory-samples").map(String::as_str), Some("5"));
    // INCRBYFLOAT replies with a bulk string (as Redis does, even in RESP3);
    // no implemented command replies with a RESP3 double yet.
    let f: f64 = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("1.25")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, 1.25);
    let f: f64 = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("-0.5")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, 0.75);
    let mixed: Vec<Option<String>> = redis::cmd("MGET")
        .arg("f")
        .arg("missing")
        .query(&mut c)
        .unwrap();
    assert_eq!(mixed, vec![Some("0.75".to_string()), None]);
    let ttl: i64 = redis::cmd("TTL").arg("missing").query(&mut c).unwrap();
    assert_eq!(ttl, -2);
    let ok: Value = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    assert_eq!(ok, Value::Okay);
}

#[test]
fn resp3_raw_encoding() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let id = String::from_utf8(c.call(&["CLIENT", "ID"])).unwrap();
    let id = id.trim_start_matches(':').trim_end();
    let hello = c.call(&["HELLO", "3"]);
    let want = format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(show(&hello), want);
    assert_eq!(c.call(&["GET", "missing"]), b"_\r\n");
    assert_eq!(
        c.call(&["CONFIG", "GET", "maxmemory"]),
        b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    assert_eq!(c.call(&["CLIENT", "GETNAME"]), b"_\r\n");
    let info = c.call(&["CLIENT", "INFO"]);
    assert!(info.starts_with(b"="), "{}", show(&info));
    assert!(show(&info).contains("\r\ntxt:id="), "{}", show(&info));
    // Back to RESP2.
    let hello2 = c.call(&["HELLO", "2"]);
    assert!(hello2.starts_with(b"*14\r\n"), "{}", show(&hello2));
    assert_eq!(c.call(&["GET", "missing"]), b"$-1\r\n");
    assert_eq!(
        c.call(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    // RESET returns to RESP2 as well.
    c.call(&["HELLO", "3"]);
    assert_eq!(c.call(&["RESET"]), b"+RESET\r\n");
    assert_eq!(c.call(&["GET", "missing"]), b"$-1\r\n");
}

/// The same RESP3 conversation on ferrocache and redis-server gives the same
/// bytes (HELLO differs only in version and id, checked above).
#[test]
fn resp3_replies_match_redis() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let script: &[&[&str]] = &[
        &["HELLO", "4"],
        &["HELLO", "abc"],
        &["HELLO", "3", "FOO"],
        &["GET", "missing"],
        &["SET", "k", "v"],
        &["GET", "k"],
        &["SET", "k", "v2", "GET"],
        &["SET", "nx", "v", "NX", "GET"],
        &["MGET", "k", "missing"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["TTL", "missing"],
        &["EXISTS", "k", "missing"],
        &["OBJECT", "ENCODING", "k"],
        &["CLIENT", "GETNAME"],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "GET", "nosuchparam"],
        &["TYPE", "k"],
        &["TYPE", "missing"],
        &["ECHO", "hi"],
        &["PING"],
        &["PING", "hi"],
        &["GETDEL", "missing"],
        &["GETEX", "missing"],
        &["LCS", "k", "missing"],
        &["EXPIRETIME", "missing"],
        &["SELECT", "1"],
        &["DBSIZE"],
        &["KEYS", "*"],
        &["SCAN", "0"],
        &["RANDOMKEY"],
    ];
    let run = |raw: &mut Raw| -> Vec<String> {
        let hello = raw.call(&["HELLO", "3"]);
        assert!(hello.starts_with(b"%7\r\n"), "{}", show(&hello));
        script.iter().map(|cmd| show(&raw.call(cmd))).collect()
    };
    let ours = run(&mut ferro.raw());
    let theirs = run(&mut redis.raw());
    for ((cmd, a), b) in script.iter().zip(&ours).zip(&theirs) {
        assert_eq!(a, b, "reply to {cmd:?}");
    }
}

/// DEBUG PROTOCOL, which client libraries and Redis's own tests use to see
/// each RESP type, gives redis-server's bytes over RESP2 and RESP3.
#[test]
fn debug_protocol_matches_redis() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let kinds = [
        "string",
        "integer",
        "double",
        "bignum",
        "null",
        "array",
        "set",
        "map",
        "attrib",
        "push",
        "verbatim",
        "true",
        "false",
        "nosuchtype",
    ];
    for proto in ["2", "3"] {
        let run = |raw: &mut Raw| -> Vec<String> {
            raw.call(&["HELLO", proto]);
            kinds
                .iter()
                .map(|k| {
                    let mut reply = raw.call(&["DEBUG", "PROTOCOL", k]);
                    if *k == "push" && proto == "3" {
                        // The push message, then the reply itself.
                        reply.extend(raw.read_reply());
                    }
                    show(&reply)
                })
                .collect()
        };
        let ours = run(&mut ferro.raw());
        let theirs = run(&mut redis.raw());
        for ((kind, a), b) in kinds.iter().zip(&ours).zip(&theirs) {
            assert_eq!(a, b, "DEBUG PROTOCOL {kind} over RESP{proto}");
        }
    }
}
