//! End-to-end protocol tests on raw sockets against the real binary:
//! malformed requests (compared byte for byte with a real redis-server),
//! inline commands, pipelining, a 64 MB value, and the query buffer limit.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{bulk, encode, show, start_ferrocache, start_redis, Proc, Raw};

/// Sends `input` on a fresh connection and returns everything the server
/// writes until it closes the connection.
fn reply_then_close(node: &Proc, input: &[u8]) -> Vec<u8> {
    let mut raw = node.raw();
    raw.send(input);
    raw.read_until_eof()
}

/// The node still serves other clients.
fn assert_serving(node: &Proc) {
    let mut raw = node.raw();
    assert_eq!(raw.call(&["PING"]), b"+PONG\r\n");
    assert_eq!(raw.call(&["SET", "alive", "yes"]), b"+OK\r\n");
    assert_eq!(raw.call(&["GET", "alive"]), b"$3\r\nyes\r\n");
}

/// Each malformed request gets `expected` and then the connection closes;
/// the real redis-server behaves identically; the node keeps serving.
fn check_protocol_errors(ferro: &Proc, redis: &Proc, cases: &[(&[u8], &str)]) {
    for (input, expected) in cases {
        let ours = reply_then_close(ferro, input);
        let theirs = reply_then_close(redis, input);
        let want = format!("-{expected}\r\n");
        assert_eq!(show(&ours), want, "ferrocache reply to {:?}", show(input));
        assert_eq!(
            show(&theirs),
            want,
            "redis-server reply to {:?}",
            show(input)
        );
        assert_serving(ferro);
    }
}

#[test]
fn malformed_requests_get_redis_errors_and_close() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let cases: &[(&[u8], &str)] = &[
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*3000000000\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*01\r\n$4\r\nPING\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*1\r\n$1000000000000000000000\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n:1\r\n",
            "ERR Protocol error: expected '$', got ':'",
        ),
        (b"*1\r\n*1\r\n", "ERR Protocol error: expected '$', got '*'"),
        (
            b"SET a \"b c\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET a 'b c\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET a \"b\"c\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        // Binary garbage after a multibulk marker.
        (
            b"*\xff\xfe\x01\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1\r\n$\xff\x80\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
    ];
    check_protocol_errors(&ferro, &redis, cases);
}

#[test]
fn commands_before_a_protocol_error_are_answered() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let mut input = encode(&[b"SET", b"k", b"v"]);
    input.extend(b"PING\r\n");
    input.extend(encode(&[b"GET", b"k"]));
    input.extend(b"*x\r\n");
    input.extend(encode(&[b"SET", b"never", b"run"]));
    let ours = reply_then_close(&ferro, &input);
    let theirs = reply_then_close(&redis, &input);
    let want = "+OK\r\n+PONG\r\n$1\r\nv\r\n-ERR Protocol error: invalid multibulk length\r\n";
    assert_eq!(show(&ours), want);
    assert_eq!(show(&theirs), want);
    let mut c = ferro.raw();
    assert_eq!(c.call(&["EXISTS", "never"]), b":0\r\n");
}

#[test]
fn oversized_headers_and_inline_requests() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let mut mbulk = b"*".to_vec();
    mbulk.extend(std::iter::repeat_n(b'1', 70_000));
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', 70_000));
    let inline = vec![b'A'; 70_000];
    let cases: &[(&[u8], &str)] = &[
        (&mbulk, "ERR Protocol error: too big mbulk count string"),
        (&bulk, "ERR Protocol error: too big bulk count string"),
        (&inline, "ERR Protocol error: too big inline request"),
    ];
    check_protocol_errors(&ferro, &redis, cases);
}

#[test]
fn bulk_above_proto_max_bulk_len_is_refused() {
    let ferro = start_ferrocache(&["--proto-max-bulk-len", "1mb"]);
    let redis = start_redis();
    let mut r = redis.raw();
    assert_eq!(
        r.call(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        b"+OK\r\n"
    );
    let mut c = ferro.raw();
    assert_eq!(
        c.call(&["CONFIG", "GET", "proto-max-bulk-len"]),
        b"*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n1048576\r\n"
    );
    let cases: &[(&[u8], &str)] = &[
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$1048577\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
    ];
    check_protocol_errors(&ferro, &redis, cases);
    // Exactly the limit is fine.
    let value = vec![b'v'; 1024 * 1024];
    c.cmd(&[b"SET", b"big", &value]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.call(&["STRLEN", "big"]), b":1048576\r\n");
}

#[test]
fn unauthenticated_clients_are_limited_like_redis() {
    let ferro = start_ferrocache(&["--requirepass", "secret"]);
    let redis = start_redis();
    let mut r = redis.raw();
    assert_eq!(
        r.call(&["CONFIG", "SET", "requirepass", "secret"]),
        b"+OK\r\n"
    );
    let cases: &[(&[u8], &str)] = &[
        (
            b"*11\r\n",
            "ERR Protocol error: unauthenticated multibulk length",
        ),
        (
            b"*2\r\n$4\r\nECHO\r\n$20000\r\n",
            "ERR Protocol error: unauthenticated bulk length",
        ),
    ];
    for (input, expected) in cases {
        let want = format!("-{expected}\r\n");
        assert_eq!(show(&reply_then_close(&ferro, input)), want);
        assert_eq!(show(&reply_then_close(&redis, input)), want);
    }
    let mut c = ferro.raw();
    assert_eq!(c.call(&["AUTH", "secret"]), b"+OK\r\n");
    assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
}

#[test]
fn inline_garbage_is_an_unknown_command_and_the_connection_stays_open() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let inputs: &[&[u8]] = &[
        b"\x01\x02\x03\x04\r\n",
        b"FOO bar baz\r\n",
        b"GET a b c\r\n",
        // CR/LF inside an echoed argument must not break the error line.
        b"*2\r\n$5\r\na\r\nbc\r\n$3\r\nx\ny\r\n",
        b"\x7f\x1b[garbage \x01 \x02\r\n",
    ];
    for input in inputs {
        let mut ours = ferro.raw();
        let mut theirs = redis.raw();
        ours.send(input);
        theirs.send(input);
        // Then a PING: the connection is still usable.
        ours.send(b"PING\r\n");
        theirs.send(b"PING\r\n");
        let mut a = Vec::new();
        let mut b = Vec::new();
        while !a.ends_with(b"+PONG\r\n") {
            a.extend(ours.read_reply());
        }
        while !b.ends_with(b"+PONG\r\n") {
            b.extend(theirs.read_reply());
        }
        assert_eq!(show(&a), show(&b), "reply to {:?}", show(input));
    }
}

/// An unknown command made of non-UTF-8 bytes: Redis echoes the raw bytes.
#[test]

fn unknown_binary_command_is_echoed_verbatim() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    for input in [&b"\xff\xfe\x01\r\n"[..], b"\xc3\x28 x\r\n"] {
        let mut ours = ferro.raw();
        let mut theirs = redis.raw();
        ours.send(input);
        theirs.send(input);
        assert_eq!(ours.read_reply(), theirs.read_reply());
    }
}

/// `expected '$', got '<byte>'`: Redis prints the raw byte.
#[test]

fn expected_dollar_with_a_binary_byte() {
    let ferro = start_ferrocache(&[]);
    let redis = start_redis();
    let input = b"*1\r\n\xff\xfe\r\n";
    let ours = reply_then_close(&ferro, input);
    let theirs = reply_then_close(&redis, input);
    assert_eq!(theirs, b"-ERR Protocol error: expected '$', got '\xff'\r\n");
    assert_eq!(ours, theirs);
}

#[test]
fn inline_commands() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    c.send(b"PING\r\n");
    assert_eq!(c.read_reply(), b"+PONG\r\n");
    c.send(b"PING\n");
    assert_eq!(c.read_reply(), b"+PONG\r\n");
    c.send(b"SET a \"b c\"\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.call(&["GET", "a"]), b"$3\r\nb c\r\n");
    c.send(b"SET e \"x\\x41\\n\\t\\\"q\\\"\"\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.call(&["GET", "e"]), b"$7\r\nxA\n\t\"q\"\r\n");
    c.send(b"  SET   s   'single \\' quoted'  \r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.call(&["GET", "s"]), b"$15\r\nsingle ' quoted\r\n");
    // Empty lines are ignored; an inline command split across writes works.
    c.send(b"\r\n\r\nGE");
    c.send(b"T a\r\n");
    assert_eq!(c.read_reply(), b"$3\r\nb c\r\n");
    // Inline and multibulk mixed in one write.
    let mut batch = b"ECHO one\r\n".to_vec();
    batch.extend(encode(&[b"ECHO", b"two"]));
    batch.extend(b"ECHO three\r\n");
    c.send(&batch);
    assert_eq!(c.read_reply(), b"$3\r\none\r\n");
    assert_eq!(c.read_reply(), b"$3\r\ntwo\r\n");
    assert_eq!(c.read_reply(), b"$5\r\nthree\r\n");
}

#[test]
fn pipelining_1000_commands_in_one_write() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let mut batch = Vec::new();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut counter = 0;
    for i in 0..1000 {
        let key = format!("key:{}", i % 97);
        match i % 4 {
            0 => {
                let v = format!("value-{i}");
                batch.extend(encode(&[b"SET", key.as_bytes(), v.as_bytes()]));
                expected.push(b"+OK\r\n".to_vec());
            }
            1 => {
                batch.extend(encode(&[b"INCR", b"counter"]));
                counter += 1;
                expected.push(format!(":{counter}\r\n").into_bytes());
            }
            2 => {
                batch.extend(encode(&[b"ECHO", format!("echo-{i}").as_bytes()]));
                let e = format!("echo-{i}");
                expected.push(format!("${}\r\n{e}\r\n", e.len()).into_bytes());
            }
            _ => {
                // GET of the key SET by the previous `0` step with this key.
                let k = format!("key:{}", (i - 3) % 97);
                batch.extend(encode(&[b"GET", k.as_bytes()]));
                let v = format!("value-{}", i - 3);
                expected.push(format!("${}\r\n{v}\r\n", v.len()).into_bytes());
            }
        }
    }
    c.send(&batch);
    for (i, want) in expected.iter().enumerate() {
        let got = c.read_reply();
        assert_eq!(show(&got), show(want), "reply #{i}");
    }
    assert_eq!(c.call(&["GET", "counter"]), b"$3\r\n250\r\n");
}

/// Large values (stored without a copy from the buffer they arrived in)
/// mixed with small commands, split at every kind of boundary, followed by
/// more arguments, and modified afterwards.
#[test]
fn large_values_among_small_commands() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let big = |n: usize, seed: u8| -> Vec<u8> {
        (0..n).map(|i| b'a' + ((i as u8) ^ seed) % 26).collect()
    };
    let (v1, v2, v3) = (big(100 * 1024, 1), big(40 * 1024, 2), big(300 * 1024, 3));
    let mut stream = Vec::new();
    stream.extend(encode(&[b"SET", b"small", b"1"]));
    stream.extend(encode(&[b"SET", b"b1", &v1]));
    stream.extend(encode(&[b"INCR", b"small"]));
    stream.extend(encode(&[b"SET", b"b2", &v2, b"EX", b"100"]));
    stream.extend(encode(&[b"MSET", b"b3", &v3, b"small2", b"x"]));
    stream.extend(encode(&[b"GET", b"small"]));
    // In pieces of awkward sizes, each a separate write.
    for piece in stream.chunks(7919) {
        c.send(piece);
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b":2\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"$1\r\n2\r\n");
    for (key, v) in [("b1", &v1), ("b2", &v2), ("b3", &v3)] {
        assert!(c.call(&["GET", key]) == bulk(v), "GET {key}");
    }
    assert_eq!(c.call(&["OBJECT", "ENCODING", "b1"]), b"$3\r\nraw\r\n");
    assert_eq!(c.call(&["TTL", "b2"]), b":100\r\n");
    // Modifying an adopted value copies it first; the others are untouched.
    assert_eq!(
        c.call(&["APPEND", "b1", "xyz"]),
        format!(":{}\r\n", v1.len() + 3).as_bytes()
    );
    assert_eq!(
        c.call(&["SETRANGE", "b3", "0", "ZZ"]),
        format!(":{}\r\n", v3.len()).as_bytes()
    );
    assert_eq!(
        c.call(&["GETRANGE", "b1", "-4", "-1"]),
        format!("$4\r\n{}xyz\r\n", v1[v1.len() - 1] as char).as_bytes()
    );
    assert_eq!(
        c.call(&["GETRANGE", "b3", "0", "2"]),
        format!("$3\r\nZZ{}\r\n", v3[2] as char).as_bytes()
    );
    assert_eq!(
        c.call(&["STRLEN", "b2"]),
        format!(":{}\r\n", v2.len()).as_bytes()
    );
}

/// After a big value the next read expects another of its size: what comes
/// instead (a burst of small commands longer than that, then a bigger value,
/// then a smaller one) is parsed and stored exactly.
#[test]
fn reads_after_a_big_value_take_whatever_comes() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    let value = |n: usize, seed: u8| -> Vec<u8> { (0..n).map(|i| (i as u8) ^ seed).collect() };
    let (v1, v2, v3) = (
        value(64 * 1024, 1),
        value(700 * 1024, 2),
        value(40 * 1024, 3),
    );
    c.send(&encode(&[b"SET", b"v1", &v1]));
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let mut burst = Vec::new();
    for i in 0..5000 {
        burst.extend(encode(&[b"RPUSH", b"list", i.to_string().as_bytes()]));
    }
    assert!(burst.len() > v1.len());
    burst.extend(encode(&[b"SET", b"v2", &v2]));
    c.send(&burst);
    for i in 1..=5000 {
        assert_eq!(c.read_reply(), format!(":{i}\r\n").as_bytes());
    }
    assert_eq!(c.read_reply(), b"+OK\r\n");
    c.send(&encode(&[b"SET", b"v3", &v3]));
    assert_eq!(c.read_reply(), b"+OK\r\n");
    for (key, v) in [("v1", &v1), ("v2", &v2), ("v3", &v3)] {
        assert!(c.call(&["GET", key]) == bulk(v), "GET {key}");
    }
    assert_eq!(c.call(&["LINDEX", "list", "-1"]), b"$4\r\n4999\r\n");
}

const BIG: usize = 64 * 1024 * 1024;

/// Byte `i` of the big test value: a cheap pseudo-random pattern, so that a
/// misplaced or dropped chunk is detected.
fn pattern_fill(offset: usize, buf: &mut [u8]) {
    for (j, b) in buf.iter_mut().enumerate() {
        let i = (offset + j) as u32;
        *b = (i.wrapping_mul(2_654_435_761) >> 24) as u8 ^ (i >> 16) as u8;
    }
}

/// GETs `key` and checks, streaming, that it is exactly the big pattern.
fn assert_big_value(c: &mut Raw, key: &[u8]) {
    c.cmd(&[b"GET", key]);
    let header = c.read_text_line();
    assert_eq!(header, format!("${BIG}"));
    let mut got = vec![0u8; 1 << 20];
    let mut want = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < BIG {
        let n = (BIG - offset).min(got.len());
        c.stream.read_exact(&mut got[..n]).expect("read value");
        pattern_fill(offset, &mut want[..n]);
        if got[..n] != want[..n] {
            let at = (0..n).find(|&j| got[j] != want[j]).unwrap_or(0);
            panic!("value differs at byte {}", offset + at);
        }
        offset += n;
    }
    let mut crlf = [0u8; 2];
    c.stream.read_exact(&mut crlf).expect("read crlf");
    assert_eq!(&crlf, b"\r\n");
}

#[test]
fn big_value_in_one_write() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    c.stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut req = format!("*3\r\n$3\r\nSET\r\n$8\r\nbig:once\r\n${BIG}\r\n").into_bytes();
    let start = req.len();
    req.resize(start + BIG, 0);
    pattern_fill(0, &mut req[start..]);
    req.extend_from_slice(b"\r\n");
    c.send(&req);
    drop(req);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(
        c.call(&["STRLEN", "big:once"]),
        format!(":{BIG}\r\n").as_bytes()
    );
    assert_big_value(&mut c, b"big:once");
    // The connection is still in sync afterwards.
    assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
}

#[test]
fn big_value_in_small_chunks() {
    let node = start_ferrocache(&[]);
    let mut c = node.raw();
    c.stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // The header itself is split mid-token too.
    let header = format!("*3\r\n$3\r\nSET\r\n$9\r\nbig:chunk\r\n${BIG}\r\n").into_bytes();
    for part in header.chunks(5) {
        c.stream.write_all(part).unwrap();
    }
    let sizes = [1, 7, 1500, 4096, 9000, 65_537, 333];
    let mut buf = vec![0u8; 65_537];
    let mut offset = 0;
    let mut k = 0;
    while offset < BIG {
        let n = sizes[k % sizes.len()].min(BIG - offset);
        k += 1;
        pattern_fill(offset, &mut buf[..n]);
        c.stream.write_all(&buf[..n]).unwrap();
        offset += n;
    }
    c.stream.write_all(b"\r").unwrap();
    c.stream.write_all(b"\n").unwrap();
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(
        c.call(&["STRLEN", "big:chunk"]),
        format!(":{BIG}\r\n").as_bytes()
    );
    assert_big_value(&mut c, b"big:chunk");
    assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
    // Other clients were served meanwhile and still are.
    assert_serving(&node);
}

/// Sends the header of a 4 MB SET and then its body slowly: the connection
/// is closed once the query buffer passes client-query-buffer-limit (1 MB),
/// as redis-server does.
fn slow_big_bulk_is_cut_off(node: &Proc) -> bool {
    let mut c = node.raw();
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    // 3 MB of the 4 MB body: never complete, always above the 1 MB limit.
    for _ in 0..48 {
        if c.stream.write_all(&chunk).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut b = [0u8; 64];
    match c.stream.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn redis_closes_a_slow_big_bulk_over_the_query_buffer_limit() {
    let redis = start_redis();
    let mut r = redis.raw();
    assert_eq!(
        r.call(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        b"+OK\r\n"
    );
    assert!(slow_big_bulk_is_cut_off(&redis));
}

#[test]

fn slow_big_bulk_over_the_query_buffer_limit_is_closed() {
    let node = start_ferrocache(&["--client-query-buffer-limit", "1mb"]);
    assert!(slow_big_bulk_is_cut_off(&node), "connection not closed");
    assert_serving(&node);
    let mut c = node.raw();
    let info = String::from_utf8(c.call(&["INFO", "stats"])).unwrap();
    assert_eq!(
        common::info_field(&info, "client_query_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
}
