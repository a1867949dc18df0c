//! Binary protocol tests. Expected behaviour noted from memcached 1.6.18 on a loopback port
//! (requests built with opaque 0xdeadbeef).

use super::*;

fn request(op: u8, key: &[u8], extras: &[u8], value: &[u8], cas: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Header {
        magic: REQUEST_MAGIC,
        opcode: op,
        key_len: key.len() as u16,
        extras_len: extras.len() as u8,
        data_type: 0,
        vbucket_or_status: 0,
        body_len: (key.len() + extras.len() + value.len()) as u32,
        opaque: 0xdead_beef,
        cas,
    }
    .encode(&mut out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

fn ok(buf: &[u8]) -> (BinRequest<'_>, usize) {
    match parse(buf, &Limits::default()) {
        BinParsed::Request { req, consumed } => (req, consumed),
        other => panic!("{other:?}"),
    }
}

fn fail(buf: &[u8]) -> BinError<'_> {
    match parse(buf, &Limits::default()) {
        BinParsed::Error(e) => e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn header_round_trip() {
    let h = Header {
        magic: 0x80,
        opcode: 0x21,
        key_len: 0xfffe,
        extras_len: 20,
        data_type: 1,
        vbucket_or_status: 0x1234,
        body_len: 0x0102_0304,
        opaque: 0xdead_beef,
        cas: 0x0102_0304_0506_0708,
    };
    let mut out = Vec::new();
    h.encode(&mut out);
    assert_eq!(out.len(), HEADER_LEN);
    assert_eq!(&out[..8], &[0x80, 0x21, 0xff, 0xfe, 20, 1, 0x12, 0x34]);
    assert_eq!(Header::decode(&out), Some(h));
    assert_eq!(Header::decode(&out[..23]), None);
    // Random headers survive a round trip.
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let mut bytes = [0u8; HEADER_LEN];
        rand::Rng::fill(&mut rng, &mut bytes[..]);
        let h = Header::decode(&bytes).unwrap_or_default();
        let mut again = Vec::new();
        h.encode(&mut again);
        assert_eq!(again, bytes);
    }
}

#[test]
fn opcodes_and_quiet_variants() {
    for b in 0..=255u8 {
        if let Some(op) = Opcode::from_u8(b) {
            assert_eq!(op as u8, b);
            let (base, quiet) = op.base();
            assert_eq!(quiet, base != op);
        }
    }
    assert_eq!(Opcode::GetKQ.base(), (Opcode::GetK, true));
    assert_eq!(Opcode::GatKQ.base(), (Opcode::GatK, true));
    assert!(Opcode::Version.allowed_unauthenticated());
    assert!(!Opcode::Get.allowed_unauthenticated());
}

#[test]
fn simple_commands() {
    for (op, want) in [
        (0x0a, BinCommand::Noop),
        (0x0b, BinCommand::Version),
        (0x07, BinCommand::Quit),
        (0x20, BinCommand::SaslListMechs),
    ] {
        let buf = request(op, b"", b"", b"", 0);
        let (req, consumed) = ok(&buf);
        assert_eq!(
            (req.cmd, consumed, req.header.opaque),
            (want, 24, 0xdead_beef)
        );
    }
    let buf = request(0x17, b"", b"", b"", 0);
    let (req, _) = ok(&buf);
    assert_eq!(
        (req.cmd, req.quiet, req.opcode),
        (BinCommand::Quit, true, Opcode::QuitQ)
    );
    let buf = request(0x08, b"", &7u32.to_be_bytes(), b"", 0);
    assert_eq!(ok(&buf).0.cmd, BinCommand::Flush { delay: 7 });
    let buf = request(0x18, b"", b"", b"", 0);
    assert_eq!(ok(&buf).0.cmd, BinCommand::Flush { delay: 0 });
}

#[test]
fn storage_and_retrieval() {
    let mut extras = 5u32.to_be_bytes().to_vec();
    extras.extend_from_slice(&100u32.to_be_bytes());
    let buf = request(0x01, b"a", &extras, b"hello", 0);
    let (req, consumed) = ok(&buf);
    assert_eq!(consumed, buf.len());
    assert_eq!(
        req.cmd,
        BinCommand::Store {
            cmd: StoreCmd::Set,
            key: b"a",
            flags: 5,
            exptime: 100,
            cas: 0,
            value: b"hello"
        }
    );
    // A CAS in the header turns SET/ADD/REPLACE into a CAS store.
    let buf = request(0x13, b"a", &extras, b"v", 9);
    let (req, _) = ok(&buf);
    assert!(req.quiet);
    assert!(matches!(
        req.cmd,
        BinCommand::Store {
            cmd: StoreCmd::Cas,
            cas: 9,
            ..
        }
    ));
    // Incomplete value: need the whole body.
    match parse(&buf[..buf.len() - 1], &Limits::default()) {
        BinParsed::Incomplete { need } => assert_eq!(need, buf.len()),
        other => panic!("{other:?}"),
    }
    let buf = request(0x0e, b"a", b"", b"tail", 0);
    assert!(matches!(
        ok(&buf).0.cmd,
        BinCommand::Store {
            cmd: StoreCmd::Append,
            value: b"tail",
            ..
        }
    ));
    let buf = request(0x0d, b"key", b"", b"", 0);
    let (req, _) = ok(&buf);
    assert_eq!(
        (req.cmd, req.quiet),
        (
            BinCommand::Get {
                key: b"key",
                return_key: true
            },
            true
        )
    );
    let buf = request(0x04, b"key", b"", b"", 3);
    assert_eq!(
        ok(&buf).0.cmd,
        BinCommand::Delete {
            key: b"key",
            cas: 3
        }
    );
    let mut arith = 1u64.to_be_bytes().to_vec();
    arith.extend_from_slice(&10u64.to_be_bytes());
    arith.extend_from_slice(&0xffff_ffffu32.to_be_bytes());
    let buf = request(0x16, b"n", &arith, b"", 0);
    let (req, _) = ok(&buf);
    assert_eq!(
        req.cmd,
        BinCommand::Arith {
            incr: false,
            key: b"n",
            delta: 1,
            initial: 10,
            exptime: 0xffff_ffff,
            cas: 0
        }
    );
    let buf = request(0x24, b"k", &10u32.to_be_bytes(), b"", 0);
    let (req, _) = ok(&buf);
    assert_eq!(
        (req.cmd, req.quiet),
        (
            BinCommand::GetAndTouch {
                key: b"k",
                exptime: 10,
                return_key: true
            },
            true
        )
    );
    let buf = request(0x1c, b"k", &10u32.to_be_bytes(), b"", 0);
    assert_eq!(
        ok(&buf).0.cmd,
        BinCommand::Touch {
            key: b"k",
            exptime: 10
        }
    );
    let buf = request(0x21, b"PLAIN", b"", b"\0user\0pass", 0);
    assert_eq!(
        ok(&buf).0.cmd,
        BinCommand::SaslAuth {
            mechanism: b"PLAIN",
            data: b"\0user\0pass"
        }
    );
    let buf = request(0x10, b"", b"", b"", 0);
    assert_eq!(ok(&buf).0.cmd, BinCommand::Stat { group: b"" });
}

#[test]
fn trailing_body_bytes_are_the_next_command() {
    // memcached reads only the key of STAT and the extras+key of TOUCH: with
    // value "\x80\x0a\0\0" after "STAT bogus" it answered Not found and waited.
    let mut buf = request(0x10, b"bogus", b"", b"\x80\x0a\x00\x00", 0);
    let (req, consumed) = ok(&buf);
    assert_eq!(
        (req.cmd, consumed),
        (BinCommand::Stat { group: b"bogus" }, 29)
    );
    buf.truncate(29);
    let _ = buf;
}

#[test]
fn malformed_requests() {
    // Wrong magic on a binary connection: closed without a reply.
    let mut bad = request(0x0a, b"", b"", b"", 0);
    bad[0] = 0x81;
    let e = fail(&bad);
    assert_eq!((e.status, e.close), (None, true));
    // GET without a key / with extras / key of 251: Invalid arguments, then close.
    for buf in [
        request(0x00, b"", b"", b"", 0),
        request(0x00, b"a", b"1234", b"", 0),
        request(0x00, &[b'k'; 251], b"", b"", 0),
        request(0x01, b"a", b"", b"hello", 0),
        request(0x0e, b"a", b"1234", b"x", 0),
        request(0x05, b"n", &[0; 16], b"", 0),
        request(0x08, b"", b"12", b"", 0),
    ] {
        let e = fail(&buf);
        assert_eq!(
            (e.status, e.close),
            (Some(Status::InvalidArguments), true),
            "{buf:?}"
        );
    }
    // Key longer than the body: Unknown command, then close.
    let mut short = request(0x00, b"abc", b"", b"", 0);
    short[8..12].copy_from_slice(&2u32.to_be_bytes());
    let e = fail(&short);
    assert_eq!((e.status, e.close), (Some(Status::UnknownCommand), true));
    // Unknown opcode (and VERBOSITY, which 1.6 does not dispatch): Unknown command, the
    // connection stays, and memcached skips body-length bytes after extras and key.
    let mut unknown = request(0x30, b"a", b"", b"xyz", 0);
    unknown.extend_from_slice(&request(0x0a, b"", b"", b"", 0));
    let e = fail(&unknown);
    assert_eq!(
        (e.status, e.close, e.consumed, e.swallow),
        (Some(Status::UnknownCommand), false, 29, 0)
    );
    let verbosity = request(0x1b, b"", &1u32.to_be_bytes(), b"", 0);
    let e = fail(&verbosity);
    assert_eq!(e.status, Some(Status::UnknownCommand));
    // Too large: "Too large." (0x03), value skipped, connection kept; SET unlinks.
    let mut extras = 0u32.to_be_bytes().to_vec();
    extras.extend_from_slice(&0u32.to_be_bytes());
    let big = request(0x01, b"a", &extras, &vec![b'x'; 1_048_577], 0);
    let e = fail(&big[..100]);
    assert_eq!(e.status, Some(Status::TooLarge));
    assert_eq!(e.consumed + e.swallow, big.len());
    assert_eq!(e.unlink, Some(&b"a"[..]));
}

#[test]
fn response_encoding() {
    // GET miss as memcached sends it: status 1, body "Not found".
    let mut out = Vec::new();
    write_error(&mut out, 0x00, 0xdead_beef, Status::KeyNotFound);
    let h = Header::decode(&out).unwrap_or_default();
    assert_eq!(
        (h.magic, h.opcode, h.vbucket_or_status, h.body_len),
        (0x81, 0, 1, 9)
    );
    assert_eq!(h.opaque, 0xdead_beef);
    assert_eq!(&out[24..], b"Not found");
    // GETK hit: extras = flags, then key, then value (memcached: keylen 1, extlen 4, body 10).
    let mut out = Vec::new();
    write_get_hit(&mut out, 0x0d, 0xdead_beef, 102, 5, b"a", b"hello");
    let h = Header::decode(&out).unwrap_or_default();
    assert_eq!(
        (h.key_len, h.extras_len, h.body_len, h.cas),
        (1, 4, 10, 102)
    );
    assert_eq!(&out[24..], b"\x00\x00\x00\x05ahello");
    let mut out = Vec::new();
    write_counter(&mut out, 0x05, 1, 103, 10);
    assert_eq!(&out[24..], &10u64.to_be_bytes());
    assert_eq!(Status::TooLarge.default_message(), "Too large.");
    assert_eq!(
        Status::InvalidArguments.default_message(),
        "Invalid arguments"
    );
    assert_eq!(Status::UnknownCommand.default_message(), "Unknown command");
}

#[test]
fn fuzz_never_panics_or_overconsumes() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xb1a7);
    let seeds: Vec<Vec<u8>> = vec![
        request(0x01, b"key", &[0; 8], b"value", 0),
        request(0x05, b"n", &[0; 20], b"", 0),
        request(0x21, b"PLAIN", b"", b"\0u\0p", 0),
        request(0x1d, b"k", &[0; 4], b"", 0),
    ];
    let limits = Limits {
        item_size_max: 4096,
        ..Limits::default()
    };
    for _ in 0..20_000 {
        let mut buf = seeds[rng.gen_range(0..seeds.len())].clone();
        for _ in 0..rng.gen_range(0..6) {
            let i = rng.gen_range(0..buf.len());
            buf[i] = rng.gen();
        }
        if rng.gen_bool(0.3) {
            buf.truncate(rng.gen_range(0..=buf.len()));
        }
        match parse(&buf, &limits) {
            BinParsed::Incomplete { need } => assert!(need > buf.len()),
            BinParsed::Request { consumed, .. } => assert!(consumed >= 24 && consumed <= buf.len()),
            BinParsed::Error(e) => assert!(e.consumed <= buf.len()),
        }
    }
}
