//! Text and meta parser tests. Unless noted, each expected reply is what memcached 1.6.18
//! (`memcached -p 7551 -U 0`) answered to the same bytes; requests that reach the engine are
//! shown as `<REQ>` because their replies depend on stored data.

use super::*;
use crate::meta::{MetaCmd, MetaStatus};

fn limits() -> Limits {
    Limits::default()
}

/// Runs the parser over `input` like a connection would and renders each step: the error
/// reply memcached sends, `<REQ>` for a request, `<CLOSE>` when the connection is dropped,
/// `<WAIT>` when more bytes are needed at the end.
fn drive(input: &[u8]) -> String {
    let l = limits();
    let mut pos = 0;
    let mut skip = 0;
    let mut out = String::new();
    loop {
        if skip > 0 {
            let n = skip.min(input.len() - pos);
            pos += n;
            skip -= n;
            if skip > 0 {
                out.push_str("<WAIT>");
                return out;
            }
        }
        if pos == input.len() {
            return out;
        }
        match parse(&input[pos..], &l) {
            Parsed::Incomplete { .. } => {
                out.push_str("<WAIT>");
                return out;
            }
            Parsed::Request { consumed, .. } => {
                assert!(consumed > 0 && consumed <= input.len() - pos);
                pos += consumed;
                out.push_str("<REQ>");
            }
            Parsed::Error(e) => {
                assert!(e.consumed <= input.len() - pos);
                pos += e.consumed;
                skip = e.swallow;
                if let Some(r) = e.reply {
                    out.push_str(r);
                    out.push_str("\r\n");
                }
                if e.close {
                    out.push_str("<CLOSE>");
                    return out;
                }
            }
        }
    }
}

fn one(input: &[u8]) -> Request<'_> {
    match parse(input, &limits()) {
        Parsed::Request { req, consumed } => {
            assert_eq!(consumed, input.len(), "whole input used");
            req
        }
        other => panic!(
            "expected a request from {:?}, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

#[test]
fn unknown_and_short_commands() {
    assert_eq!(drive(b"foo\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"g\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"GET a\r\n"), "ERROR\r\n"); // case-sensitive
    assert_eq!(drive(b"get\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"get \r\n"), "ERROR\r\n");
    assert_eq!(drive(b"mx\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"mg\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"config get cluster x\r\n"), "ERROR\r\n"); // ours: only the 3-token form
    assert_eq!(drive(b"GET / HTTP/1.1\r\n"), "<CLOSE>"); // memcached hangs up
}

#[test]
fn line_endings_and_nul() {
    // "set a 0 0 1\nx\r\nget a\n" -> STORED + VALUE: a bare \n ends a line.
    assert_eq!(drive(b"set a 0 0 1\nx\r\nget a\n"), "<REQ><REQ>");
    // "get a\0b" behaves as "get a".
    match one(b"get a\x00b\r\n") {
        Request::Get { keys, .. } => assert_eq!(keys.collect::<Vec<_>>(), vec![&b"a"[..]]),
        r => panic!("{r:?}"),
    }
    // " set a 0 0 1" with a leading space is fine; so is a trailing space.
    assert_eq!(drive(b" set a 0 0 1\r\nx\r\n"), "<REQ>");
    assert_eq!(drive(b"set a 0 0 1 \r\nx\r\n"), "<REQ>");
    // A second \r is part of the last token, and strtol accepts trailing whitespace.
    assert_eq!(drive(b"set a 0 0 1\r\r\nx\r\n"), "<REQ>");
    assert_eq!(drive(b"set a 0 0 1\t\r\nx\r\n"), "<REQ>");
}

#[test]
fn long_lines() {
    // 2048 bytes without \n: memcached waits; 2049: it closes silently.
    assert_eq!(drive(&[b'x'; 2048]), "<WAIT>");
    assert_eq!(drive(&[b'x'; 2049]), "<CLOSE>");
    // get/gets lines may grow (after <= 100 leading spaces); gat may not.
    let mut get = b"get ".to_vec();
    get.extend(vec![b'a'; 3000]);
    assert_eq!(drive(&get), "<WAIT>");
    let mut gets = b"   gets ".to_vec();
    gets.extend(vec![b'a'; 3000]);
    assert_eq!(drive(&gets), "<WAIT>");
    let mut spaced = vec![b' '; 101];
    spaced.extend_from_slice(&get);
    assert_eq!(drive(&spaced), "<CLOSE>");
    let mut gat = b"gat 1 ".to_vec();
    gat.extend(vec![b'a'; 3000]);
    assert_eq!(drive(&gat), "<CLOSE>");
    // A complete long line is processed normally (it arrived in one read).
    let mut junk = vec![b'x'; 3000];
    junk.extend_from_slice(b"\r\n");
    assert_eq!(drive(&junk), "ERROR\r\n");
    // A 300000-byte key in a get: bad command line format.
    let mut huge = b"get ".to_vec();
    huge.extend(vec![b'a'; 300_000]);
    huge.extend_from_slice(b"\r\n");
    assert_eq!(drive(&huge), "CLIENT_ERROR bad command line format\r\n");
    // "mn" followed by 3000 spaces: MN.
    let mut mn = b"mn".to_vec();
    mn.extend(vec![b' '; 3000]);
    mn.extend_from_slice(b"\r\n");
    assert_eq!(drive(&mn), "<REQ>");
}

#[test]
fn get_family() {
    match one(b"get a b  c\r\n") {
        Request::Get {
            cmd: GetCmd::Get,
            exptime: 0,
            keys,
        } => {
            assert_eq!(keys.collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"])
        }
        r => panic!("{r:?}"),
    }
    match one(b"gats 10 n\r\n") {
        Request::Get {
            cmd: GetCmd::Gats,
            exptime: 10,
            keys,
        } => {
            assert_eq!(keys.collect::<Vec<_>>(), vec![&b"n"[..]])
        }
        r => panic!("{r:?}"),
    }
    // "gat 10" -> END: no keys is fine.
    match one(b"gat 10\r\n") {
        Request::Get {
            cmd: GetCmd::Gat,
            keys,
            ..
        } => assert!(keys.is_empty()),
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        one(b"bget n\r\n"),
        Request::Get {
            cmd: GetCmd::Get,
            ..
        }
    )); // END
    assert_eq!(
        drive(b"gat x a\r\n"),
        "CLIENT_ERROR invalid exptime argument\r\n"
    );
    // More than 24 tokens: memcached keeps reading keys.
    let mut many = b"get".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!(" k{i}").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    match one(&many) {
        Request::Get { keys, .. } => assert_eq!(keys.count(), 100),
        r => panic!("{r:?}"),
    }
    // Keys: 250 bytes ok, 251 rejected, even after valid keys.
    let k250 = vec![b'k'; 250];
    let mut ok = b"get ".to_vec();
    ok.extend_from_slice(&k250);
    ok.extend_from_slice(b"\r\n");
    assert_eq!(drive(&ok), "<REQ>");
    let mut bad = b"get a ".to_vec();
    bad.extend_from_slice(&k250);
    bad.extend_from_slice(b"k b\r\n");
    assert_eq!(drive(&bad), "CLIENT_ERROR bad command line format\r\n");
    // Control characters and tabs are part of keys.
    match one(b"get a\x01b a\tb\r\n") {
        Request::Get { keys, .. } => {
            assert_eq!(keys.collect::<Vec<_>>(), vec![&b"a\x01b"[..], b"a\tb"])
        }
        r => panic!("{r:?}"),
    }
}

#[test]
fn storage_commands() {
    match one(b"set a 5 100 3\r\nabc\r\n") {
        Request::Store(s) => {
            assert_eq!(
                s,
                Store {
                    cmd: StoreCmd::Set,
                    key: b"a",
                    flags: 5,
                    exptime: 100,
                    cas: 0,
                    data: b"abc",
                    noreply: false
                }
            )
        }
        r => panic!("{r:?}"),
    }
    match one(b"cas k 0 -1 2 77 noreply\r\nhi\r\n") {
        Request::Store(s) => {
            assert_eq!(
                (s.cmd, s.exptime, s.cas, s.noreply),
                (StoreCmd::Cas, -1, 77, true)
            )
        }
        r => panic!("{r:?}"),
    }
    for (cmd, want) in [
        (&b"add"[..], StoreCmd::Add),
        (b"replace", StoreCmd::Replace),
        (b"append", StoreCmd::Append),
        (b"prepend", StoreCmd::Prepend),
    ] {
        let mut line = cmd.to_vec();
        line.extend_from_slice(b" k 0 0 1\r\nx\r\n");
        match one(&line) {
            Request::Store(s) => assert_eq!(s.cmd, want),
            r => panic!("{r:?}"),
        }
    }
    // Flags are truncated to 32 bits: "set a 4294967296 0 1" -> STORED, gets shows flags 0.
    match one(b"set a 4294967296 0 1\r\nx\r\n") {
        Request::Store(s) => assert_eq!(s.flags, 0),
        r => panic!("{r:?}"),
    }
    // The byte count is truncated too: 4294967297 reads one byte.
    match one(b"set a 0 0 4294967297\r\nx\r\n") {
        Request::Store(s) => assert_eq!(s.data, b"x"),
        r => panic!("{r:?}"),
    }
    // exptime 2147483648 wraps to a negative (expired) int32.
    match one(b"set a 0 2147483648 1\r\nx\r\n") {
        Request::Store(s) => assert_eq!(s.exptime, i64::from(i32::MIN)),
        r => panic!("{r:?}"),
    }
    // "set a 0 0 1 extra": any sixth token is allowed (only "noreply" means something).
    assert_eq!(drive(b"set a 0 0 1 extra\r\nx\r\n"), "<REQ>");
    assert_eq!(drive(b"set a +1 0 +1\r\nx\r\n"), "<REQ>");
    assert_eq!(drive(b"set a -0 0 1\r\nx\r\n"), "<REQ>");
}

#[test]
fn storage_errors() {
    assert_eq!(drive(b"set a 0 0\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"set a 0 0 1 noreply extra\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"cas a 0 0 1\r\n"), "ERROR\r\n");
    // Bad numbers: the error, then the data line is read as a command.
    assert_eq!(
        drive(b"set a -1 0 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        drive(b"set a 0x1 0 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        drive(b"set a 1a 0 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        drive(b"set a 0 0 -1\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        drive(b"set a 0 0 2147483647\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        drive(b"set a 0 0 99999999999999999999\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        drive(b"cas a 0 0 1 abc\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        drive(b"cas a 0 0 1 -1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        drive(b"cas a 0 0 1 18446744073709551616\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    // Key of 251 bytes.
    let mut long = b"set ".to_vec();
    long.extend(vec![b'k'; 251]);
    long.extend_from_slice(b" 0 0 1\r\nx\r\n");
    assert_eq!(
        drive(&long),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    // noreply silences the classic errors too.
    assert_eq!(drive(b"set a 0 0 -1 noreply\r\n"), "");
    // Bad data chunk: exactly bytes+2 are consumed, the rest is a new line.
    assert_eq!(
        drive(b"set a 0 0 1\r\nxyz\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    );
    assert_eq!(
        drive(b"set a 0 0 1\r\nab\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    );
    // ...and with noreply only the stray line's ERROR is seen.
    assert_eq!(
        drive(b"set a 0 0 1 noreply\r\nab\r\nget a\r\n"),
        "ERROR\r\n<REQ>"
    );
    // Incomplete block: wait (memcached waits for the 3rd byte of "x\n").
    assert_eq!(drive(b"set a 0 0 1\r\nx\n"), "<WAIT>");
    match parse(b"set a 0 0 10\r\nab", &limits()) {
        Parsed::Incomplete { need } => assert_eq!(need, Some(26)),
        r => panic!("{r:?}"),
    }
}

#[test]
fn too_large_values_are_swallowed() {
    // "set a 0 0 1048577" + data -> SERVER_ERROR object too large for cache, data skipped.
    let mut req = b"set a 0 0 1048577\r\n".to_vec();
    req.extend(vec![b'x'; 1_048_577]);
    req.extend_from_slice(b"\r\nmn\r\n");
    assert_eq!(
        drive(&req),
        "SERVER_ERROR object too large for cache\r\n<REQ>"
    );
    match parse(b"set a 0 0 1048577\r\nxx", &limits()) {
        Parsed::Error(e) => {
            assert_eq!(e.consumed, 21);
            assert_eq!(e.swallow, 1_048_579 - 2);
            assert_eq!(e.unlink.as_deref(), Some(&b"a"[..]));
        }
        r => panic!("{r:?}"),
    }
    // add does not unlink; noreply hides the reply.
    match parse(b"add a 0 0 1048577 noreply\r\n", &limits()) {
        Parsed::Error(e) => {
            assert_eq!(
                (e.reply, e.unlink.is_none(), e.swallow),
                (None, true, 1_048_579)
            )
        }
        r => panic!("{r:?}"),
    }
    // The largest value that fits for key "a" (measured) is accepted.
    match parse(b"set a 0 0 1048516\r\n", &limits()) {
        Parsed::Incomplete { need } => assert_eq!(need, Some(19 + 1_048_518)),
        r => panic!("{r:?}"),
    }
}

#[test]
fn arithmetic_touch_delete() {
    assert_eq!(
        one(b"incr a 18446744073709551615\r\n"),
        Request::Arith {
            incr: true,
            key: b"a",
            delta: u64::MAX,
            noreply: false
        }
    );
    assert_eq!(
        one(b"decr a 5 noreply\r\n"),
        Request::Arith {
            incr: false,
            key: b"a",
            delta: 5,
            noreply: true
        }
    );
    // "incr a 1 2" is accepted (the last token is not noreply).
    assert_eq!(drive(b"incr a 1 2\r\n"), "<REQ>");
    assert_eq!(drive(b"incr a -0\r\n"), "<REQ>");
    assert_eq!(drive(b"incr a\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"incr a 1 noreply x\r\n"), "ERROR\r\n");
    for bad in [
        &b"incr a -1\r\n"[..],
        b"incr a abc\r\n",
        b"incr a 18446744073709551616\r\n",
    ] {
        assert_eq!(
            drive(bad),
            "CLIENT_ERROR invalid numeric delta argument\r\n"
        );
    }
    assert_eq!(drive(b"incr a noreply\r\n"), ""); // silenced
    assert_eq!(
        one(b"touch a 10\r\n"),
        Request::Touch {
            key: b"a",
            exptime: 10,
            noreply: false
        }
    );
    assert_eq!(drive(b"touch a\r\n"), "ERROR\r\n");
    assert_eq!(
        drive(b"touch a x\r\n"),
        "CLIENT_ERROR invalid exptime argument\r\n"
    );
    assert_eq!(
        one(b"delete a\r\n"),
        Request::Delete {
            key: b"a",
            noreply: false
        }
    );
    assert_eq!(
        one(b"delete a 0\r\n"),
        Request::Delete {
            key: b"a",
            noreply: false
        }
    );
    assert_eq!(
        one(b"delete a noreply\r\n"),
        Request::Delete {
            key: b"a",
            noreply: true
        }
    );
    assert_eq!(
        one(b"delete a 0 noreply\r\n"),
        Request::Delete {
            key: b"a",
            noreply: true
        }
    );
    let usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
    assert_eq!(drive(b"delete a 1\r\n"), usage);
    assert_eq!(drive(b"delete a 0 0\r\n"), usage);
    assert_eq!(drive(b"delete a 1 noreply\r\n"), "");
    assert_eq!(drive(b"delete a x y z\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"delete\r\n"), "ERROR\r\n");
}

#[test]
fn server_commands() {
    assert_eq!(
        one(b"flush_all\r\n"),
        Request::FlushAll {
            delay: 0,
            noreply: false
        }
    );
    assert_eq!(
        one(b"flush_all -1\r\n"),
        Request::FlushAll {
            delay: -1,
            noreply: false
        }
    );
    assert_eq!(
        one(b"flush_all noreply\r\n"),
        Request::FlushAll {
            delay: 0,
            noreply: true
        }
    );
    assert_eq!(
        one(b"flush_all 10 noreply\r\n"),
        Request::FlushAll {
            delay: 10,
            noreply: true
        }
    );
    assert_eq!(
        one(b"flush_all 1 2\r\n"),
        Request::FlushAll {
            delay: 1,
            noreply: false
        }
    ); // OK
    assert_eq!(
        drive(b"flush_all x\r\n"),
        "CLIENT_ERROR invalid exptime argument\r\n"
    );
    assert_eq!(drive(b"flush_all x noreply\r\n"), "");
    assert_eq!(drive(b"flush_all 1 2 3\r\n"), "ERROR\r\n");
    assert_eq!(
        one(b"verbosity 1 2\r\n"),
        Request::Verbosity {
            level: 1,
            noreply: false
        }
    ); // OK
    assert_eq!(drive(b"verbosity\r\n"), "ERROR\r\n");
    assert_eq!(
        drive(b"verbosity x\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(one(b"version x\r\n"), Request::Version);
    assert_eq!(one(b"quit x\r\n"), Request::Quit);
    assert_eq!(
        one(b"shutdown\r\n"),
        Request::Shutdown {
            mode: ShutdownMode::Immediate
        }
    );
    assert_eq!(
        one(b"shutdown graceful\r\n"),
        Request::Shutdown {
            mode: ShutdownMode::Graceful
        }
    );
    assert_eq!(
        one(b"shutdown now\r\n"),
        Request::Shutdown {
            mode: ShutdownMode::Invalid
        }
    );
    match one(b"stats slabs\r\n") {
        Request::Stats { args } => assert_eq!(args.collect::<Vec<_>>(), vec![&b"slabs"[..]]),
        r => panic!("{r:?}"),
    }
    match one(b"stats\r\n") {
        Request::Stats { args } => assert!(args.is_empty()),
        r => panic!("{r:?}"),
    }
    match one(b"slabs automove 1\r\n") {
        Request::Admin { name, args } => {
            assert_eq!(name, b"slabs");
            assert_eq!(args.count(), 2);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(drive(b"cache_memlimit\r\n"), "ERROR\r\n");
}

#[test]
fn elasticache_config() {
    assert_eq!(
        one(b"config get cluster\r\n"),
        Request::ConfigGet { key: b"cluster" }
    );
    // The form the AWS cluster-client test suites send.
    let payload = b"1\r\nhost|10.0.0.1|11211";
    let mut req = format!("config set cluster 0 {}\r\n", payload.len()).into_bytes();
    req.extend_from_slice(payload);
    req.extend_from_slice(b"\r\n");
    match one(&req) {
        Request::ConfigSet {
            key,
            flags,
            data,
            noreply,
        } => {
            assert_eq!(
                (key, flags, data, noreply),
                (&b"cluster"[..], 0, &payload[..], false)
            )
        }
        r => panic!("{r:?}"),
    }
    match one(b"config set cluster 0 0 2 noreply\r\nab\r\n") {
        Request::ConfigSet { data, noreply, .. } => assert_eq!((data, noreply), (&b"ab"[..], true)),
        r => panic!("{r:?}"),
    }
    assert_eq!(drive(b"config set cluster\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"config set noreply\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"config get noreply\r\n"), "<REQ>");
    assert_eq!(
        drive(b"config set cluster 0 x\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
}

fn meta(input: &[u8]) -> crate::meta::MetaRequest<'_> {
    match one(input) {
        Request::Meta(m) => m,
        r => panic!("{r:?}"),
    }
}

#[test]
fn meta_get_flags() {
    let m = meta(b"mg a k v s f t c h l O123 q u\r\n");
    assert_eq!(m.cmd, MetaCmd::Get);
    assert_eq!(&m.key[..], b"a");
    let f = &m.flags;
    assert!(f.return_key && f.return_value && f.return_size && f.return_flags);
    assert!(f.return_ttl && f.return_cas && f.return_hit && f.return_last_access);
    assert!(f.quiet && f.no_lru_bump);
    assert_eq!(f.opaque, Some(&b"123"[..]));
    assert_eq!(f.order(), b"kvsftchlOqu");
    let m = meta(b"mg a T30 N-5 R10\r\n");
    assert_eq!(
        (m.flags.ttl, m.flags.vivify_ttl, m.flags.recache_ttl),
        (Some(30), Some(-5), Some(10))
    );
    // mg accepts every flag of the shared scanner: "mg a F5 C3 M2 J1 D1 I" -> HD; P/L too.
    assert_eq!(drive(b"mg a F5 C3 M2 J1 D1 I\r\n"), "<REQ>");
    assert_eq!(drive(b"mg a P L\r\n"), "<REQ>");
    // Flag tokens after the first character are ignored for value-less flags ("mg a vv").
    assert!(meta(b"mg a vv\r\n").flags.return_value);
    // Empty opaque "O" is echoed as " O".
    assert_eq!(meta(b"mg a O\r\n").flags.opaque, Some(&b""[..]));
}

#[test]
fn meta_get_errors() {
    assert_eq!(drive(b"mg a v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
    assert_eq!(drive(b"mg a zz\r\n"), "CLIENT_ERROR invalid flag\r\n");
    assert_eq!(drive(b"mg a X\r\n"), "CLIENT_ERROR invalid flag\r\n");
    assert_eq!(drive(b"mg a E5\r\n"), "CLIENT_ERROR invalid flag\r\n");
    assert_eq!(
        drive(b"mg a Tx\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
    assert_eq!(
        drive(b"mg a T\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
    assert_eq!(
        drive(b"mg a N\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
    assert_eq!(
        drive(b"mg a M\r\n"),
        "CLIENT_ERROR incorrect length for M token\r\n"
    );
    // A later duplicate or invalid flag wins over an earlier bad token...
    assert_eq!(drive(b"mg a Tx v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
    assert_eq!(drive(b"mg a Tx zz\r\n"), "CLIENT_ERROR invalid flag\r\n");
    assert_eq!(drive(b"mg a T1 T-\r\n"), "CLIENT_ERROR duplicate flag\r\n");
    // ...and flag errors come before the opaque length check.
    let mut long_o = b"mg a v O".to_vec();
    long_o.extend(vec![b'1'; 40]);
    let mut with_bad = long_o.clone();
    with_bad.extend_from_slice(b" zz\r\n");
    assert_eq!(drive(&with_bad), "CLIENT_ERROR invalid flag\r\n");
    long_o.extend_from_slice(b"\r\n");
    assert_eq!(drive(&long_o), "CLIENT_ERROR opaque token too long\r\n");
    // O plus 31 bytes is the longest opaque.
    assert_eq!(
        drive(b"mg a O1234567890123456789012345678901 k\r\n"),
        "<REQ>"
    );
    assert_eq!(
        drive(b"mg a O12345678901234567890123456789012 k\r\n"),
        "CLIENT_ERROR opaque token too long\r\n"
    );
    let mut long_key = b"mg ".to_vec();
    long_key.extend(vec![b'k'; 251]);
    long_key.extend_from_slice(b"\r\n");
    assert_eq!(drive(&long_key), "CLIENT_ERROR bad command line format\r\n");
    // 2 + 19 tokens: "options flags are too long".
    let mut many = b"mg a".to_vec();
    for i in 0..19 {
        many.extend_from_slice(format!(" O{i}").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(drive(&many), "CLIENT_ERROR options flags are too long\r\n");
    // Quiet mode never hides errors: "mg zzz q Tx" + mn -> the error, then MN.
    assert_eq!(
        drive(b"mg zzz q Tx\r\nmn\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n<REQ>"
    );
}

#[test]
fn meta_base64_keys() {
    // "mg YWJj b k v" -> EN kYWJj b
    let m = meta(b"mg YWJj b k v\r\n");
    assert_eq!(&m.key[..], b"abc");
    assert!(m.flags.base64_key);
    assert_eq!(&meta(b"mg YW!Jj b k\r\n").key[..], b"abc");
    assert_eq!(&meta(b"mg YQ=x b k\r\n").key[..], b"a\0");
    for bad in [
        &b"mg YWJ b\r\n"[..],
        b"mg !!!! b\r\n",
        b"mg ==== b k\r\n",
        b"mg YQ b k\r\n",
    ] {
        assert_eq!(drive(bad), "CLIENT_ERROR error decoding key\r\n");
    }
    assert_eq!(
        drive(b"ms a 1 b\r\nx\r\n"),
        "CLIENT_ERROR error decoding key\r\n"
    );
    match one(b"me YWJj b\r\n") {
        Request::MetaDebug { key, base64_key } => {
            assert_eq!((&key[..], base64_key), (&b"abc"[..], true))
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(
        drive(b"me a b\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(drive(b"me\r\n"), "CLIENT_ERROR bad command line format\r\n");
    assert_eq!(one(b"mn x\r\n"), Request::MetaNoop);
}

#[test]
fn meta_set() {
    let m = meta(b"ms a 1 T0 F5 c k O9\r\nx\r\n");
    assert_eq!(
        m.cmd,
        MetaCmd::Set {
            mode: StoreCmd::Set
        }
    );
    assert_eq!(m.data, b"x");
    assert_eq!((m.flags.ttl, m.flags.client_flags), (Some(0), Some(5)));
    assert_eq!(m.flags.order(), b"TFckO");
    assert_eq!(
        meta(b"ms a 1 ME\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Add
        }
    );
    assert_eq!(
        meta(b"ms a 1 MA\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Append
        }
    );
    assert_eq!(
        meta(b"ms a 1 MP\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Prepend
        }
    );
    assert_eq!(
        meta(b"ms a 1 MR\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Replace
        }
    );
    assert_eq!(
        meta(b"ms a 1 MS\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Set
        }
    );
    // A compare value turns set/replace into cas (ms a 1 C1 -> EX when the CAS differs).
    assert_eq!(
        meta(b"ms a 1 C1\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Cas
        }
    );
    assert_eq!(
        meta(b"ms a 1 MR C1\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Cas
        }
    );
    assert_eq!(
        meta(b"ms a 1 MA C1\r\nx\r\n").cmd,
        MetaCmd::Set {
            mode: StoreCmd::Append
        }
    );
    // "ms a 1 v" is accepted (v is ignored by ms).
    assert_eq!(drive(b"ms a 1 v\r\nx\r\n"), "<REQ>");
}

#[test]
fn meta_set_errors() {
    assert_eq!(
        drive(b"ms a\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        drive(b"ms a -1\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    // An unreadable length cannot be swallowed: the data line becomes a command.
    assert_eq!(
        drive(b"ms a x\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    // Errors after the length swallow the data block.
    assert_eq!(
        drive(b"ms a 1 MX\r\nx\r\n"),
        "CLIENT_ERROR invalid mode for ms M token\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 MEE\r\nx\r\n"),
        "CLIENT_ERROR incorrect length for M token\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 Fx\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 F-1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 Cx\r\nx\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 zz\r\nx\r\n"),
        "CLIENT_ERROR invalid flag\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 S100\r\nx\r\n"),
        "CLIENT_ERROR invalid flag\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 T1 T2\r\nx\r\n"),
        "CLIENT_ERROR duplicate flag\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 Tx MX\r\nx\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
    assert_eq!(
        drive(b"ms a 1 MX Tx\r\nx\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
    let mut long_o = b"ms a 1 O".to_vec();
    long_o.extend(vec![b'1'; 40]);
    long_o.extend_from_slice(b"\r\nx\r\n");
    assert_eq!(drive(&long_o), "CLIENT_ERROR opaque token too long\r\n");
    // Quiet mode still reports a bad chunk: "ms a 1 q\r\nxy\r\nmn" -> error, ERROR, MN.
    assert_eq!(
        drive(b"ms a 1 q\r\nxy\r\nmn\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n<REQ>"
    );
    assert_eq!(
        drive(b"ms a 1 T1 T2 q\r\nx\r\nmn\r\n"),
        "CLIENT_ERROR duplicate flag\r\n<REQ>"
    );
    // Too large: swallowed, key unlinked.
    match parse(b"ms a 2000000\r\n", &limits()) {
        Parsed::Error(e) => {
            assert_eq!(e.reply, Some("SERVER_ERROR object too large for cache"));
            assert_eq!(e.swallow, 2_000_002);
            assert_eq!(e.unlink.as_deref(), Some(&b"a"[..]));
        }
        r => panic!("{r:?}"),
    }
}

#[test]
fn meta_delete_and_arith() {
    let m = meta(b"md a k O1 C5 q I T30\r\n");
    assert_eq!(m.cmd, MetaCmd::Delete);
    assert_eq!(
        (m.flags.compare_cas, m.flags.ttl, m.flags.invalidate),
        (Some(5), Some(30), true)
    );
    for bad in [
        &b"md a zz\r\n"[..],
        b"md a x\r\n",
        b"md a q Tx\r\n",
        b"ma a Dx\r\n",
        b"ma a Jx N0\r\n",
        b"ma a D-1\r\n",
    ] {
        assert_eq!(drive(bad), "CLIENT_ERROR invalid or duplicate flag\r\n");
    }
    let m = meta(b"ma a v D5 MD t c k O1\r\n");
    assert_eq!(m.cmd, MetaCmd::Arith { incr: false });
    assert_eq!(m.flags.delta, Some(5));
    assert_eq!(meta(b"ma a M+\r\n").cmd, MetaCmd::Arith { incr: true });
    assert_eq!(meta(b"ma a MI\r\n").cmd, MetaCmd::Arith { incr: true });
    assert_eq!(meta(b"ma a M-\r\n").cmd, MetaCmd::Arith { incr: false });
    let m = meta(b"ma a N0 J10 v\r\n");
    assert_eq!((m.flags.vivify_ttl, m.flags.initial), (Some(0), Some(10)));
    assert_eq!(
        drive(b"ma a MX\r\n"),
        "CLIENT_ERROR invalid mode for ma M token\r\n"
    );
    assert_eq!(
        drive(b"ma a Mi\r\n"),
        "CLIENT_ERROR invalid mode for ma M token\r\n"
    );
}

#[test]
fn meta_quiet_rules() {
    // "mg a q" -> HD is shown; "mg zzz q k" + mn -> only MN; "md a q" -> NF shown;
    // "ms a 1 q" + mn -> only MN.
    let mg = meta(b"mg a q\r\n");
    assert!(!mg.quiet_suppresses(MetaStatus::Hd));
    assert!(mg.quiet_suppresses(MetaStatus::En));
    let md = meta(b"md a q\r\n");
    assert!(!md.quiet_suppresses(MetaStatus::Nf));
    assert!(md.quiet_suppresses(MetaStatus::Hd));
    let ms = meta(b"ms a 1 q\r\nx\r\n");
    assert!(ms.quiet_suppresses(MetaStatus::Hd));
    assert!(!ms.quiet_suppresses(MetaStatus::Ns));
    assert!(!meta(b"mg a\r\n").quiet_suppresses(MetaStatus::En));
}

#[test]
fn explicit_cas_flag_when_enabled() {
    let l = Limits {
        meta_explicit_cas: true,
        ..Limits::default()
    };
    match parse(b"ms a 1 E77\r\nx\r\n", &l) {
        Parsed::Request {
            req: Request::Meta(m),
            ..
        } => assert_eq!(m.flags.explicit_cas, Some(77)),
        r => panic!("{r:?}"),
    }
}

/// Every split point of a pipelined buffer must yield the same requests.
#[test]
fn incremental_parsing_is_split_invariant() {
    let pipeline: &[u8] =
        b"get a b\r\nset k 1 2 3\r\nabc\r\nmg YWJj b k v O5\r\nms x 2 T9\r\nhi\r\n\
incr n 5\r\nbogus\r\nset a 0 0 1\r\nxyz\r\ndelete a 0 noreply\r\nmn\r\ngats 3 a b c\r\n\
config set cluster 0 3\r\nabc\r\nset big 0 0 1048577\r\n";
    let mut big = pipeline.to_vec();
    big.extend(vec![b'z'; 1_048_577]);
    big.extend_from_slice(b"\r\nversion\r\n");
    let whole = collect_all(&big, &[big.len()]);
    assert_eq!(whole.len(), 14);
    let step = 1;
    for split in (0..pipeline.len() + 40).step_by(step) {
        assert_eq!(
            collect_all(&big, &[split, big.len()]),
            whole,
            "split at {split}"
        );
    }
    // Many tiny reads.
    let cuts: Vec<usize> = (1..=pipeline.len()).step_by(3).chain([big.len()]).collect();
    assert_eq!(collect_all(&big, &cuts), whole);
}

/// Feeds `input` as if it arrived in chunks ending at `cuts`, rendering every outcome.
fn collect_all(input: &[u8], cuts: &[usize]) -> Vec<String> {
    let l = limits();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut skip = 0usize;
    for &cut in cuts {
        let avail = cut.min(input.len());
        loop {
            if skip > 0 {
                let n = skip.min(avail.saturating_sub(pos));
                pos += n;
                skip -= n;
                if skip > 0 {
                    break;
                }
            }
            if pos >= avail {
                break;
            }
            match parse(&input[pos..avail], &l) {
                Parsed::Incomplete { .. } => break,
                Parsed::Request { req, consumed } => {
                    out.push(format!("{req:?}"));
                    pos += consumed;
                }
                Parsed::Error(e) => {
                    out.push(format!("{:?} unlink={:?}", e.reply, e.unlink));
                    pos += e.consumed;
                    skip = e.swallow;
                    if e.close {
                        return out;
                    }
                }
            }
        }
    }
    out
}

/// Random and mutated inputs: the parser must never panic, never consume more than the
/// buffer, and always make progress on an error that keeps the connection.
#[test]
fn fuzz_never_panics_or_overconsumes() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d656d63);
    let seeds: &[&[u8]] = &[
        b"get a b c\r\n",
        b"gats 10 a\r\n",
        b"set k 1 2 3\r\nabc\r\n",
        b"cas k 0 0 1 5 noreply\r\nx\r\n",
        b"incr n 18446744073709551615\r\n",
        b"delete a 0 noreply\r\n",
        b"flush_all 10 noreply\r\n",
        b"mg YWJj b k v s f t c h l O123 q u T5 N5 R5\r\n",
        b"ms a 3 MA C5 F7 I q k c O1\r\nabc\r\n",
        b"md a q I T30 C1\r\n",
        b"ma a N0 J10 D5 MD v t c\r\n",
        b"me YWJj b\r\n",
        b"config set cluster 0 3\r\nabc\r\n",
        b"config get cluster\r\n",
        b"config set noreply\r\n",
        b"config set cluster 0 0 1 noreply\r\nx\r\n",
        b"stats detail dump\r\n",
    ];
    let alphabet = b" \r\n\t\x00-+0123456789abmgsdqvkOTNCMEDJ=";
    let limits = Limits {
        max_line: 64,
        max_multiget_line: 256,
        item_size_max: 512,
        ..Limits::default()
    };
    for round in 0..50_000 {
        let mut buf: Vec<u8> = if round % 5 == 0 {
            (0..rng.gen_range(0..80)).map(|_| rng.gen()).collect()
        } else {
            let mut b = Vec::new();
            for _ in 0..rng.gen_range(1..4) {
                b.extend_from_slice(seeds[rng.gen_range(0..seeds.len())]);
            }
            for _ in 0..rng.gen_range(0..5) {
                let i = rng.gen_range(0..b.len());
                match rng.gen_range(0..3) {
                    0 => b[i] = alphabet[rng.gen_range(0..alphabet.len())],
                    1 => b.insert(i, alphabet[rng.gen_range(0..alphabet.len())]),
                    _ => {
                        b.remove(i);
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
            b
        };
        if rng.gen_bool(0.2) {
            buf.truncate(rng.gen_range(0..=buf.len()));
        }
        let mut pos = 0;
        while pos < buf.len() {
            match parse(&buf[pos..], &limits) {
                Parsed::Incomplete { need } => {
                    if let Some(n) = need {
                        assert!(n > buf.len() - pos);
                    }
                    break;
                }
                Parsed::Request { consumed, .. } => {
                    assert!(consumed > 0 && consumed <= buf.len() - pos);
                    pos += consumed;
                }
                Parsed::Error(e) => {
                    assert!(e.consumed <= buf.len() - pos);
                    if e.close {
                        break;
                    }
                    assert!(e.consumed > 0, "an error must make progress");
                    pos += e.consumed;
                    if e.swallow > 0 {
                        break;
                    }
                }
            }
        }
    }
}
