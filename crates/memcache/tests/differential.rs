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

/// A toy engine for the classic text commands, built only from this crate's parser and
/// reply encoders. Random pipelines run on it and on memcached; the bytes must match. This
/// checks the parsed fields (flags truncation, byte counts, noreply, delete forms, deltas),
/// not just the error paths. Exptimes are 0 or negative so that time plays no part.
#[derive(Default)]
struct ToyEngine {
    items: std::collections::HashMap<Vec<u8>, (u32, Vec<u8>)>,
}

impl ToyEngine {
    fn run(&mut self, input: &[u8]) -> Vec<u8> {
        use memcache::reply;
        use memcache::text::{GetCmd, StoreCmd};
        let limits = Limits::default();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let (req, consumed) = match parse(&input[pos..], &limits) {
                Parsed::Incomplete { .. } => break,
                Parsed::Error(e) => {
                    if let Some(r) = e.reply {
                        reply::line(&mut out, r);
                    }
                    if let Some(k) = e.unlink {
                        self.items.remove(&k[..]);
                    }
                    assert_eq!(e.swallow, 0, "toy inputs keep blocks whole");
                    pos += e.consumed;
                    continue;
                }
                Parsed::Request { req, consumed } => (req, consumed),
            };
            pos += consumed;
            let mut answer = |text: &str, noreply: bool| {
                if !noreply {
                    reply::line(&mut out, text);
                }
            };
            match req {
                Request::Get {
                    cmd: GetCmd::Get,
                    keys,
                    ..
                } => {
                    let mut buf = Vec::new();
                    for k in keys {
                        if let Some((flags, data)) = self.items.get(k) {
                            reply::value(&mut buf, k, *flags, data, None);
                        }
                    }
                    reply::end(&mut buf);
                    out.extend_from_slice(&buf);
                }
                Request::Store(s) => {
                    let key = s.key.to_vec();
                    let present = self.items.contains_key(&key);
                    let expired = s.exptime < 0;
                    let status = match s.cmd {
                        StoreCmd::Set => {
                            self.items.insert(key.clone(), (s.flags, s.data.to_vec()));
                            reply::STORED
                        }
                        StoreCmd::Add if present => reply::NOT_STORED,
                        StoreCmd::Add => {
                            self.items.insert(key.clone(), (s.flags, s.data.to_vec()));
                            reply::STORED
                        }
                        StoreCmd::Replace if !present => reply::NOT_STORED,
                        StoreCmd::Replace => {
                            self.items.insert(key.clone(), (s.flags, s.data.to_vec()));
                            reply::STORED
                        }
                        StoreCmd::Append | StoreCmd::Prepend => match self.items.get_mut(&key) {
                            None => reply::NOT_STORED,
                            Some((_, data)) => {
                                if s.cmd == StoreCmd::Append {
                                    data.extend_from_slice(s.data);
                                } else {
                                    let mut v = s.data.to_vec();
                                    v.extend_from_slice(data);
                                    *data = v;
                                }
                                reply::STORED
                            }
                        },
                        // The toy never knows the real CAS; the inputs use a huge one.
                        StoreCmd::Cas if present => reply::EXISTS,
                        StoreCmd::Cas => reply::NOT_FOUND,
                    };
                    // Append/prepend keep the old item's expiry; the others take the new one.
                    if expired
                        && status == reply::STORED
                        && !matches!(s.cmd, StoreCmd::Append | StoreCmd::Prepend)
                    {
                        self.items.remove(&key);
                    }
                    answer(status, s.noreply);
                }
                Request::Arith {
                    incr,
                    key,
                    delta,
                    noreply,
                } => match self.items.get_mut(key) {
                    None => answer(reply::NOT_FOUND, noreply),
                    Some((_, data)) => match memcache::parse_u64(data) {
                        None => answer(reply::NON_NUMERIC, noreply),
                        Some(v) => {
                            let new = if incr {
                                v.wrapping_add(delta)
                            } else {
                                v.saturating_sub(delta)
                            };
                            let digits = new.to_string().into_bytes();
                            // memcached rewrites in place, space-padded, when it fits.
                            let mut stored = digits.clone();
                            if digits.len() <= data.len() {
                                stored.resize(data.len(), b' ');
                            }
                            *data = stored;
                            if !noreply {
                                out.extend_from_slice(&digits);
                                out.extend_from_slice(b"\r\n");
                            }
                        }
                    },
                },
                Request::Touch {
                    key,
                    exptime,
                    noreply,
                } => {
                    if self.items.contains_key(key) {
                        if exptime < 0 {
                            self.items.remove(key);
                        }
                        answer(reply::TOUCHED, noreply);
                    } else {
                        answer(reply::NOT_FOUND, noreply);
                    }
                }
                Request::Delete { key, noreply } => {
                    let status = if self.items.remove(key).is_some() {
                        reply::DELETED
                    } else {
                        reply::NOT_FOUND
                    };
                    answer(status, noreply);
                }
                Request::FlushAll { noreply, .. } => {
                    self.items.clear();
                    answer(reply::OK, noreply);
                }
                Request::Verbosity { noreply, .. } => answer(reply::OK, noreply),
                Request::MetaNoop => answer(reply::MN, false),
                other => panic!("toy engine does not run {other:?}"),
            }
        }
        out
    }
}

fn random_pipeline(rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    let keys = ["k0", "k1", "a\tb", "k\x01"];
    let datas: [&[u8]; 8] = [
        b"",
        b"0",
        b"10",
        b"abc",
        b"18446744073709551615",
        b" 5",
        b"7",
        b"x\r\ny",
    ];
    let flags = [
        "0",
        "1",
        "4294967296",
        "4294967295",
        "-0",
        "+7",
        "18446744073709551615",
    ];
    let exps = ["0", "-1", "+0", "2147483648", "4294967296", "-0"];
    let deltas = ["1", "0", "5", "18446744073709551615", "-0", "+3", "x", "-1"];
    let mut out = b"flush_all\r\n".to_vec();
    for _ in 0..rng.gen_range(1..40) {
        let key = keys[rng.gen_range(0..keys.len())];
        let noreply = if rng.gen_bool(0.2) { " noreply" } else { "" };
        match rng.gen_range(0..10) {
            0..=3 => {
                let cmd =
                    ["set", "add", "replace", "append", "prepend", "cas"][rng.gen_range(0..6)];
                let data = datas[rng.gen_range(0..datas.len())];
                let cas = if cmd == "cas" { " 999999999999" } else { "" };
                let f = flags[rng.gen_range(0..flags.len())];
                let e = exps[rng.gen_range(0..exps.len())];
                out.extend_from_slice(
                    format!("{cmd} {key} {f} {e} {}{cas}{noreply}\r\n", data.len()).as_bytes(),
                );
                out.extend_from_slice(data);
                // Occasionally a wrong block terminator.
                out.extend_from_slice(if rng.gen_bool(0.05) { b"XY" } else { b"\r\n" });
            }
            4 | 5 => {
                let n = rng.gen_range(1..4);
                let ks: Vec<&str> = (0..n).map(|_| keys[rng.gen_range(0..keys.len())]).collect();
                out.extend_from_slice(format!("get {}\r\n", ks.join(" ")).as_bytes());
            }
            6 => {
                let cmd = if rng.gen_bool(0.5) { "incr" } else { "decr" };
                let d = deltas[rng.gen_range(0..deltas.len())];
                out.extend_from_slice(format!("{cmd} {key} {d}{noreply}\r\n").as_bytes());
            }
            7 => {
                let form = ["", " 0", " 1"][rng.gen_range(0..3)];
                out.extend_from_slice(format!("delete {key}{form}{noreply}\r\n").as_bytes());
            }
            8 => {
                let e = ["0", "-1", "x"][rng.gen_range(0..3)];
                out.extend_from_slice(format!("touch {key} {e}{noreply}\r\n").as_bytes());
            }
            _ => {
                let line = [
                    "verbosity 1",
                    "flush_all 0",
                    "flush_all -1",
                    "mn",
                    "flush_all noreply",
                ][rng.gen_range(0..5)];
                out.extend_from_slice(format!("{line}\r\n").as_bytes());
            }
        }
    }
    out.extend_from_slice(b"mn\r\n");
    out
}

#[test]
fn toy_engine_pipelines_match_memcached() {
    let Ok(addr) = std::env::var("MEMCACHED_ADDR") else {
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11211);
    // memcached rewrites a shrinking counter in place, padded with spaces ("5 ").
    let fixed =
        b"flush_all\r\nset n 0 0 2\r\n10\r\ndecr n 5\r\nget n\r\nincr n 100\r\nget n\r\nmn\r\n";
    for round in 0..400 {
        let input = if round == 0 {
            fixed.to_vec()
        } else {
            random_pipeline(&mut rng)
        };
        let predicted = ToyEngine::default().run(&input);
        let actual = ask(&addr, &input, predicted.len());
        assert_eq!(
            String::from_utf8_lossy(&actual.0),
            String::from_utf8_lossy(&predicted),
            "input {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}
