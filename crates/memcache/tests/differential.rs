//! Differential test against a real memcached: inputs whose replies the parser alone decides
//! (errors, `mn`, closes) are sent to both, and the bytes must match.
//!
//! Runs only when `MEMCACHED_ADDR` names a memcached 1.6 text port, e.g.
//! `memcached -u root -p 7551 -U 0 -l 127.0.0.1 -d` then
//! `MEMCACHED_ADDR=127.0.0.1:7551 cargo test -p memcache --test differential`.
//! Without it the test only checks that the parser side runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use memcache::text::{parse, Parsed, Request};
use memcache::Limits;
use rand::{Rng, SeedableRng};

/// What the parser predicts memcached sends: `Some((bytes, closed))` when every step is
/// decided without an engine, `None` otherwise.
fn predict(input: &[u8]) -> Option<(Vec<u8>, bool)> {
    let limits = Limits::default();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        match parse(&input[pos..], &limits) {
            Parsed::Incomplete { .. } => break,
            Parsed::Request {
                req: Request::MetaNoop,
                consumed,
            } => {
                out.extend_from_slice(b"MN\r\n");
                pos += consumed;
            }
            Parsed::Request { .. } => return None,
            Parsed::Error(e) => {
                if let Some(r) = e.reply {
                    out.extend_from_slice(r.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                if e.close {
                    return Some((out, true));
                }
                if e.swallow > 0 {
                    // memcached replies only once the rest of the block has arrived.
                    return None;
                }
                pos += e.consumed;
            }
        }
    }
    Some((out, false))
}

/// Sends `input` on a fresh connection and collects the reply: waits up to a second for
/// `expect_len` bytes, then briefly for anything extra (or the close).
fn ask(addr: &str, input: &[u8], expect_len: usize) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).expect("connect to MEMCACHED_ADDR");
    s.set_read_timeout(Some(Duration::from_millis(1000))).ok();
    s.write_all(input).expect("send");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if out.len() >= expect_len {
            s.set_read_timeout(Some(Duration::from_millis(40))).ok();
        }
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

fn cases() -> Vec<Vec<u8>> {
    let fixed: &[&[u8]] = &[
        b"foo\r\n",
        b"\r\n",
        b"get\r\n",
        b"set a 0 0\r\n",
        b"set a -1 0 1\r\nx\r\n",
        b"set a 0 0 -1\r\n",
        b"set a 0 0 -1 noreply\r\nmn\r\n",
        b"set a 0 0 1\r\nxyz\r\nmn\r\n",
        b"cas a 0 0 1 -1\r\nx\r\n",
        b"incr a -1\r\n",
        b"incr a noreply\r\nmn\r\n",
        b"touch a x\r\n",
        b"delete a 1\r\n",
        b"delete a 0 0\r\n",
        b"flush_all x\r\n",
        b"flush_all 1 2 3\r\n",
        b"verbosity x\r\n",
        b"gat x a\r\n",
        b"mg a v v\r\n",
        b"mg a Tx v v\r\n",
        b"mg a Tx zz\r\n",
        b"mg a M\r\n",
        b"mg YWJ b\r\n",
        b"mg a O123456789012345678901234567890123\r\n",
        b"mg a O0 O1 O2 O3 O4 O5 O6 O7 O8 O9 O10 O11 O12 O13 O14 O15 O16 O17\r\n",
        b"mg a O0 O1 O2 O3 O4 O5 O6 O7 O8 O9 O10 O11 O12 O13 O14 O15 O16 O17 O18\r\n",
        b"ms a\r\n",
        b"ms a x\r\nx\r\n",
        b"md a zz\r\n",
        b"ma a MX\r\n",
        b"ma a Dx\r\n",
        b"me\r\n",
        b"me a b\r\n",
        b"mn x\r\nmn\r\n",
        b"mx\r\n",
        b"GET / HTTP/1.1\r\n",
        // 20 tokens is one too many (19 are accepted); ms counts its length token.
        b"mg zz k v s f t c h l O1 q u T1 N1 R1 P L I F1\r\n",
        b"ms zz 1 k v s f t c h l O1 q u T1 N1 R1 P L I\r\nx\r\nmn\r\n",
        b"md zz k v s f t c h l O1 q u T1 N1 R1 P L I F1\r\n",
        b"ma zz k v s f t c h l O1 q u T1 N1 R1 P L I F1\r\n",
    ];
    let mut all: Vec<Vec<u8>> = fixed.iter().map(|c| c.to_vec()).collect();
    // Too-large values sent whole: the error after the block is swallowed, then MN.
    for line in [
        &b"set big 0 0 1048577\r\n"[..],
        b"ms big 1048577 q\r\n",
        b"append big 0 0 1048600 noreply\r\n",
    ] {
        let mut big = line.to_vec();
        big.extend(vec![b'x'; 1_048_577]);
        if line.starts_with(b"append") {
            big.extend(vec![b'x'; 23]);
        }
        big.extend_from_slice(b"\r\nmn\r\n");
        all.push(big);
    }
    all.push(b"ms a 1 MX\r\nx\r\nmn\r\n".to_vec());
    all.push(b"ms a 1 Tx MX\r\nx\r\nmn\r\n".to_vec());
    all.push(b"ms a 1 q\r\nxy\r\nmn\r\n".to_vec());
    // Mutations of error-prone lines; only those the parser fully decides are compared.
    let seeds: &[&[u8]] = &[
        b"set a 0 0 1\r\n",
        b"incr a 1\r\n",
        b"delete a 0 noreply\r\n",
        b"touch a 1\r\n",
        b"flush_all 1 noreply\r\n",
        b"mg a v T1 N1 O1 k\r\n",
        b"md a q C1 I\r\n",
        b"ma a D1 J1 MI\r\n",
        b"verbosity 1\r\n",
        b"gat 1 a\r\n",
        b"mn\r\n",
    ];
    let alphabet = b" -+0123456789xvkqTNCMDJOIb\t";
    let mut rng = rand::rngs::StdRng::seed_from_u64(7551);
    for _ in 0..1000 {
        let mut b = seeds[rng.gen_range(0..seeds.len())].to_vec();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..b.len() - 2);
            match rng.gen_range(0..3) {
                0 => b[i] = alphabet[rng.gen_range(0..alphabet.len())],
                1 => b.insert(i, alphabet[rng.gen_range(0..alphabet.len())]),
                _ => {
                    if b.len() > 3 {
                        b.remove(i);
                    }
                }
            }
        }
        b.extend_from_slice(b"mn\r\n");
        all.push(b);
    }
    all
}

#[test]
fn parser_decided_replies_match_memcached() {
    let addr = std::env::var("MEMCACHED_ADDR").ok();
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for input in cases() {
        let Some(predicted) = predict(&input) else {
            continue;
        };
        let Some(addr) = addr.as_deref() else {
            continue;
        };
        compared += 1;
        let actual = ask(addr, &input, predicted.0.len());
        if actual != predicted {
            mismatches.push(format!(
                "{:?}: memcached {:?} closed={} / parser {:?} closed={}",
                String::from_utf8_lossy(&input),
                String::from_utf8_lossy(&actual.0),
                actual.1,
                String::from_utf8_lossy(&predicted.0),
                predicted.1
            ));
        }
    }
    if addr.is_some() {
        eprintln!("compared {compared} inputs with memcached");
        assert!(
            mismatches.is_empty(),
            "{} mismatches:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}

fn bin_request(op: u8, key: &[u8], extras: &[u8], value: &[u8], body_len: Option<u32>) -> Vec<u8> {
    use memcache::binary::{Header, REQUEST_MAGIC};
    let mut out = Vec::new();
    Header {
        magic: REQUEST_MAGIC,
        opcode: op,
        key_len: key.len() as u16,
        extras_len: extras.len() as u8,
        data_type: 0,
        vbucket_or_status: 0,
        body_len: body_len.unwrap_or((key.len() + extras.len() + value.len()) as u32),
        opaque: 0xdead_beef,
        cas: 0,
    }
    .encode(&mut out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

#[test]
fn binary_errors_match_memcached() {
    use memcache::binary::{parse, write_error, BinParsed};
    let Ok(addr) = std::env::var("MEMCACHED_ADDR") else {
        return;
    };
    let long_key = vec![b'k'; 251];
    let mut cases = vec![
        bin_request(0x00, b"", b"", b"", None),
        bin_request(0x00, b"a", b"1234", b"", None),
        bin_request(0x00, &long_key, b"", b"", None),
        bin_request(0x00, b"abc", b"", b"", Some(2)),
        bin_request(0x01, b"a", b"", b"hello", None),
        bin_request(0x05, b"n", &[0; 16], b"", None),
        bin_request(0x08, b"", b"12", b"", None),
        bin_request(0x0e, b"a", b"1234", b"x", None),
        bin_request(0x1b, b"", &[0, 0, 0, 1], b"", None),
        bin_request(0x30, b"a", b"", b"xyz", None),
        bin_request(0x0a, b"", b"", b"", Some(1)),
    ];
    // memcached answers an unknown opcode only once it has skipped `body length` bytes
    // after the key, so give it those bytes.
    for case in &mut cases[8..10] {
        case.extend_from_slice(&[0; 4]);
    }
    let mut too_large = bin_request(0x01, b"big", &[0; 8], &vec![b'x'; 1_048_577], None);
    too_large.extend_from_slice(&bin_request(0x30, b"", b"", b"", None));
    cases.push(too_large);
    for input in cases {
        let mut predicted = Vec::new();
        let mut closed = false;
        let mut pos = 0;
        while pos < input.len() {
            match parse(&input[pos..], &memcache::Limits::default()) {
                BinParsed::Error(e) => {
                    if let Some(status) = e.status {
                        write_error(&mut predicted, e.opcode, e.opaque, status);
                    }
                    pos += e.consumed + e.swallow;
                    if e.close {
                        closed = true;
                        break;
                    }
                }
                BinParsed::Incomplete { .. } => break,
                other => panic!("case must be parser-decided: {other:?}"),
            }
        }
        let actual = ask(&addr, &input, predicted.len());
        assert_eq!(
            actual,
            (predicted, closed),
            "input header {:?}",
            &input[..24]
        );
    }
}
