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
use rand::seq::SliceRandom;
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
/// The live tests share one memcached and some flush it: they take turns.
static SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    let _turn = SERVER.lock().unwrap_or_else(|e| e.into_inner());
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
    let _turn = SERVER.lock().unwrap_or_else(|e| e.into_inner());
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

/// memcached rewrites a counter in place (space-padded: `10` decr 5 reads back as `5 `)
/// when the new digits fit and nothing else references the item; otherwise it links a new,
/// unpadded item. A `get`/`mg` hit earlier in the pipeline keeps a reference until its reply
/// is written, which happens on `mn` or every 20 requests (memcached's `reqs_per_event`),
/// so the outcome depends on batching. The toys track such references and skip pipelines
/// where the answer would depend on that timing (`ambiguous`).
#[derive(Default)]
struct Pins {
    next_id: u64,
    pinned: std::collections::HashSet<u64>,
    ambiguous: bool,
}

impl Pins {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    /// Applies a counter result to `(id, data)` the way memcached stores it.
    fn store_counter(&mut self, id: &mut u64, data: &mut Vec<u8>, digits: &[u8]) {
        if digits.len() <= data.len() && self.pinned.contains(id) {
            self.ambiguous = true;
        }
        if digits.len() <= data.len() && !self.pinned.contains(id) {
            let len = data.len();
            *data = digits.to_vec();
            data.resize(len, b' ');
        } else {
            *data = digits.to_vec();
            *id = self.new_id();
        }
    }
}

/// A toy engine for the classic text commands, built only from this crate's parser and
/// reply encoders. Random pipelines run on it and on memcached; the bytes must match. This
/// checks the parsed fields (flags truncation, byte counts, noreply, delete forms, deltas),
/// not just the error paths. Exptimes are 0 or negative so that time plays no part.
#[derive(Default)]
struct ToyEngine {
    items: std::collections::HashMap<Vec<u8>, (u32, Vec<u8>, u64)>,
    pins: Pins,
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
                        if let Some((flags, data, id)) = self.items.get(k) {
                            reply::value(&mut buf, k, *flags, data, None);
                            self.pins.pinned.insert(*id);
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
                            self.items.insert(
                                key.clone(),
                                (s.flags, s.data.to_vec(), self.pins.new_id()),
                            );
                            reply::STORED
                        }
                        StoreCmd::Add if present => reply::NOT_STORED,
                        StoreCmd::Add => {
                            self.items.insert(
                                key.clone(),
                                (s.flags, s.data.to_vec(), self.pins.new_id()),
                            );
                            reply::STORED
                        }
                        StoreCmd::Replace if !present => reply::NOT_STORED,
                        StoreCmd::Replace => {
                            self.items.insert(
                                key.clone(),
                                (s.flags, s.data.to_vec(), self.pins.new_id()),
                            );
                            reply::STORED
                        }
                        StoreCmd::Append | StoreCmd::Prepend => match self.items.get_mut(&key) {
                            None => reply::NOT_STORED,
                            Some((_, data, id)) => {
                                *id = self.pins.new_id();
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
                    Some((_, data, id)) => match memcache::parse_u64(data) {
                        None => answer(reply::NON_NUMERIC, noreply),
                        Some(v) => {
                            let new = if incr {
                                v.wrapping_add(delta)
                            } else {
                                v.saturating_sub(delta)
                            };
                            let digits = new.to_string().into_bytes();
                            self.pins.store_counter(id, data, &digits);
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
                Request::MetaNoop => {
                    // mn flushes the queued replies, releasing their items.
                    self.pins.pinned.clear();
                    answer(reply::MN, false)
                }
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
    let _turn = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::rngs::StdRng::seed_from_u64(11211);
    let mut compared = 0;
    // memcached rewrites a shrinking counter in place, padded with spaces ("5 ").
    let fixed =
        b"flush_all\r\nset n 0 0 2\r\n10\r\ndecr n 5\r\nget n\r\nincr n 100\r\nget n\r\nmn\r\n";
    for round in 0..400 {
        let input = if round == 0 {
            fixed.to_vec()
        } else {
            random_pipeline(&mut rng)
        };
        let mut toy = ToyEngine::default();
        let predicted = toy.run(&input);
        if toy.pins.ambiguous {
            continue;
        }
        compared += 1;
        let actual = ask(&addr, &input, predicted.len());
        assert_eq!(
            String::from_utf8_lossy(&actual.0),
            String::from_utf8_lossy(&predicted),
            "input {:?}",
            String::from_utf8_lossy(&input)
        );
    }
    eprintln!("{compared} pipelines compared");
    assert!(compared > 250, "too few unambiguous pipelines: {compared}");
}

/// The meta-command counterpart of [`ToyEngine`]: `mg`/`ms`/`md`/`ma` with the flags whose
/// answers do not depend on time or CAS values (`k v s f O q b`, modes, `N0`, `J`, `D`, a
/// never-matching `C`), replies written by [`memcache::reply::meta`].
#[derive(Default)]
struct ToyMeta {
    items: std::collections::HashMap<Vec<u8>, (u32, Vec<u8>, u64)>,
    pins: Pins,
}

impl ToyMeta {
    fn run(&mut self, input: &[u8]) -> Vec<u8> {
        use memcache::meta::{MetaCmd, MetaStatus};
        use memcache::reply::{self, ItemMeta, MetaLease};
        use memcache::text::StoreCmd;
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
                    assert_eq!(e.swallow, 0);
                    pos += e.consumed;
                    continue;
                }
                Parsed::Request { req, consumed } => (req, consumed),
            };
            pos += consumed;
            let m = match req {
                Request::Meta(m) => m,
                Request::MetaNoop => {
                    self.pins.pinned.clear();
                    reply::line(&mut out, reply::MN);
                    continue;
                }
                Request::FlushAll { .. } => {
                    self.items.clear();
                    reply::line(&mut out, reply::OK);
                    continue;
                }
                other => panic!("toy meta does not run {other:?}"),
            };
            let key = m.key.to_vec();
            let info = |flags: u32, data: &[u8]| ItemMeta {
                client_flags: flags,
                size: data.len(),
                ..ItemMeta::default()
            };
            let mut emit =
                |status, item: Option<&ItemMeta>, value: Option<&[u8]>, quiet_ok: bool| {
                    if quiet_ok && m.quiet_suppresses(status) {
                        return;
                    }
                    reply::meta(&mut out, &m, status, item, value, MetaLease::default());
                };
            match m.cmd {
                MetaCmd::Get => match self.items.get(&key) {
                    None => emit(MetaStatus::En, None, None, true),
                    Some((flags, data, id)) => {
                        self.pins.pinned.insert(*id);
                        let it = info(*flags, data);
                        if m.flags.return_value {
                            emit(MetaStatus::Va, Some(&it), Some(data), true);
                        } else {
                            emit(MetaStatus::Hd, Some(&it), None, true);
                        }
                    }
                },
                MetaCmd::Set { mode } => {
                    let present = self.items.contains_key(&key);
                    let flags = m.flags.client_flags.unwrap_or(0);
                    let status = match mode {
                        StoreCmd::Set => MetaStatus::Hd,
                        StoreCmd::Add if present => MetaStatus::Ns,
                        StoreCmd::Add => MetaStatus::Hd,
                        StoreCmd::Replace if !present => MetaStatus::Ns,
                        StoreCmd::Replace => MetaStatus::Hd,
                        StoreCmd::Append | StoreCmd::Prepend if !present => MetaStatus::Ns,
                        // A compare value never matches in the toy.
                        StoreCmd::Append | StoreCmd::Prepend if m.flags.compare_cas.is_some() => {
                            MetaStatus::Ex
                        }
                        StoreCmd::Append | StoreCmd::Prepend => MetaStatus::Hd,
                        StoreCmd::Cas if present => MetaStatus::Ex,
                        StoreCmd::Cas => MetaStatus::Nf,
                    };
                    if status == MetaStatus::Hd {
                        match mode {
                            StoreCmd::Append | StoreCmd::Prepend => {
                                if let Some((_, data, id)) = self.items.get_mut(&key) {
                                    *id = self.pins.new_id();
                                    if mode == StoreCmd::Append {
                                        data.extend_from_slice(m.data);
                                    } else {
                                        let mut v = m.data.to_vec();
                                        v.extend_from_slice(data);
                                        *data = v;
                                    }
                                }
                            }
                            _ => {
                                let id = self.pins.new_id();
                                self.items.insert(key.clone(), (flags, m.data.to_vec(), id));
                            }
                        }
                    }
                    let it = ItemMeta::default();
                    emit(status, Some(&it), None, true);
                }
                MetaCmd::Delete => {
                    if !self.items.contains_key(&key) {
                        emit(MetaStatus::Nf, None, None, true);
                    } else if m.flags.compare_cas.is_some() {
                        emit(MetaStatus::Ex, None, None, true);
                    } else {
                        self.items.remove(&key);
                        emit(MetaStatus::Hd, None, None, true);
                    }
                }
                MetaCmd::Arith { incr } => {
                    let existing = self.items.get(&key).cloned();
                    match existing {
                        None if m.flags.vivify_ttl.is_some() => {
                            let digits = m.flags.initial.unwrap_or(0).to_string().into_bytes();
                            let id = self.pins.new_id();
                            self.items.insert(key.clone(), (0, digits.clone(), id));
                            let it = ItemMeta {
                                ttl: -1,
                                ..ItemMeta::default()
                            };
                            // memcached skips quiet mode on this path: HD is sent.
                            if m.flags.return_value {
                                emit(MetaStatus::Va, Some(&it), Some(&digits), false);
                            } else {
                                emit(MetaStatus::Hd, Some(&it), None, false);
                            }
                        }
                        None => emit(MetaStatus::Nf, None, None, true),
                        // memcached refuses an empty value before comparing CAS, and
                        // compares CAS before parsing the number.
                        Some((_, ref data, _))
                            if m.flags.compare_cas.is_some() && !data.is_empty() =>
                        {
                            emit(MetaStatus::Ex, None, None, true)
                        }
                        Some((flags, mut data, mut id)) => match memcache::parse_u64(&data) {
                            None => reply::line(&mut out, reply::NON_NUMERIC),
                            Some(v) => {
                                let delta = m.flags.delta.unwrap_or(1);
                                let new = if incr {
                                    v.wrapping_add(delta)
                                } else {
                                    v.saturating_sub(delta)
                                };
                                let digits = new.to_string().into_bytes();
                                self.pins.store_counter(&mut id, &mut data, &digits);
                                self.items.insert(key.clone(), (flags, data, id));
                                let it = ItemMeta {
                                    ttl: -1,
                                    ..ItemMeta::default()
                                };
                                if m.flags.return_value {
                                    emit(MetaStatus::Va, Some(&it), Some(&digits), true);
                                } else {
                                    emit(MetaStatus::Hd, Some(&it), None, true);
                                }
                            }
                        },
                    }
                }
            }
        }
        out
    }
}

fn random_meta_pipeline(rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    // (text key, base64 of the same key)
    let keys = [("k0", "azA="), ("k1", "azE="), ("n", "bg==")];
    let datas: [&[u8]; 6] = [b"", b"7", b"10", b"abc", b"18446744073709551615", b"99"];
    let mut out = b"flush_all\r\n".to_vec();
    for _ in 0..rng.gen_range(1..30) {
        let (text, b64) = keys[rng.gen_range(0..keys.len())];
        let mut flags: Vec<String> = Vec::new();
        let pick = |rng: &mut rand::rngs::StdRng, p: f64| rng.gen_bool(p);
        let use_b64 = pick(rng, 0.2);
        let key = if use_b64 { b64 } else { text };
        if use_b64 {
            flags.push("b".into());
        }
        for f in ["k", "O1", "q"] {
            if pick(rng, 0.3) {
                flags.push(f.into());
            }
        }
        match rng.gen_range(0..5) {
            0 => {
                for f in ["v", "s", "f"] {
                    if pick(rng, 0.5) {
                        flags.push(f.into());
                    }
                }
                flags.shuffle(rng);
                out.extend_from_slice(format!("mg {key} {}\r\n", flags.join(" ")).as_bytes());
            }
            1 | 2 => {
                // No base64 for ms: the toy does not track binary keys.
                let key = text;
                flags.retain(|f| f != "b");
                let data = datas[rng.gen_range(0..datas.len())];
                if pick(rng, 0.4) {
                    flags.push(format!(
                        "M{}",
                        ["S", "E", "A", "P", "R"][rng.gen_range(0..5)]
                    ));
                }
                if pick(rng, 0.2) {
                    flags.push(format!("F{}", rng.gen_range(0..5)));
                }
                if pick(rng, 0.1) {
                    flags.push("C99999999999".into());
                }
                flags.shuffle(rng);
                out.extend_from_slice(
                    format!("ms {key} {} {}\r\n", data.len(), flags.join(" ")).as_bytes(),
                );
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            3 => {
                if pick(rng, 0.1) {
                    flags.push("C99999999999".into());
                }
                flags.shuffle(rng);
                out.extend_from_slice(format!("md {key} {}\r\n", flags.join(" ")).as_bytes());
            }
            _ => {
                for f in ["v", "N0", "J5", "D3", "MD", "C99999999999"] {
                    if pick(rng, 0.3) {
                        flags.push(f.into());
                    }
                }
                flags.shuffle(rng);
                out.extend_from_slice(format!("ma {key} {}\r\n", flags.join(" ")).as_bytes());
            }
        }
    }
    out.extend_from_slice(b"mn\r\n");
    out
}

#[test]
fn toy_meta_pipelines_match_memcached() {
    let Ok(addr) = std::env::var("MEMCACHED_ADDR") else {
        return;
    };
    let _turn = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7552);
    let mut compared = 0;
    for _ in 0..400 {
        let input = random_meta_pipeline(&mut rng);
        let mut toy = ToyMeta::default();
        let predicted = toy.run(&input);
        if toy.pins.ambiguous {
            continue;
        }
        compared += 1;
        let actual = ask(&addr, &input, predicted.len());
        assert_eq!(
            String::from_utf8_lossy(&actual.0),
            String::from_utf8_lossy(&predicted),
            "input {:?}",
            String::from_utf8_lossy(&input)
        );
    }
    eprintln!("{compared} pipelines compared");
    assert!(compared > 250, "too few unambiguous pipelines: {compared}");
}

/// Splits binary responses into comparable parts, ignoring the CAS field (the server's
/// counter differs from any toy's).
fn split_binary(mut bytes: &[u8]) -> Vec<(u8, u16, Vec<u8>)> {
    use memcache::binary::{Header, HEADER_LEN};
    let mut out = Vec::new();
    while let Some(h) = Header::decode(bytes) {
        let end = (HEADER_LEN + h.body_len as usize).min(bytes.len());
        let mut rest = bytes[8..12].to_vec();
        rest.extend_from_slice(&bytes[2..6]);
        rest.extend_from_slice(&bytes[12..16]);
        rest.extend_from_slice(&bytes[HEADER_LEN..end]);
        out.push((h.opcode, h.vbucket_or_status, rest));
        bytes = &bytes[end..];
    }
    out
}

/// A toy binary engine over the crate's binary parser and encoders.
#[derive(Default)]
struct ToyBinary {
    items: std::collections::HashMap<Vec<u8>, (u32, Vec<u8>, u64)>,
    pins: Pins,
}

impl ToyBinary {
    fn run(&mut self, input: &[u8]) -> Vec<u8> {
        use memcache::binary::{self, BinCommand, BinParsed, Status};
        use memcache::text::StoreCmd;
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let (req, consumed) = match binary::parse(&input[pos..], &Limits::default()) {
                BinParsed::Request { req, consumed } => (req, consumed),
                other => panic!("toy inputs are valid: {other:?}"),
            };
            pos += consumed;
            let op = req.opcode as u8;
            let opaque = req.header.opaque;
            let ok_quiet = req.quiet;
            match req.cmd {
                BinCommand::Noop => {
                    self.pins.pinned.clear();
                    binary::write_response(&mut out, op, Status::NoError, opaque, 0, &[], &[], &[]);
                }
                BinCommand::Flush { .. } => {
                    self.items.clear();
                    if !ok_quiet {
                        binary::write_response(
                            &mut out,
                            op,
                            Status::NoError,
                            opaque,
                            0,
                            &[],
                            &[],
                            &[],
                        );
                    }
                }
                BinCommand::Get { key, return_key } => match self.items.get(key) {
                    Some((flags, data, id)) => {
                        self.pins.pinned.insert(*id);
                        let k: &[u8] = if return_key { key } else { &[] };
                        binary::write_get_hit(&mut out, op, opaque, 0, *flags, k, data);
                    }
                    None if ok_quiet => {}
                    // GETK misses carry the key instead of a message.
                    None if return_key => binary::write_response(
                        &mut out,
                        op,
                        Status::KeyNotFound,
                        opaque,
                        0,
                        &[],
                        key,
                        &[],
                    ),
                    None => binary::write_error(&mut out, op, opaque, Status::KeyNotFound),
                },
                BinCommand::Store {
                    cmd,
                    key,
                    flags,
                    value,
                    ..
                } => {
                    let present = self.items.contains_key(key);
                    let status = match cmd {
                        StoreCmd::Add if present => Status::KeyExists,
                        StoreCmd::Replace if !present => Status::KeyNotFound,
                        StoreCmd::Append | StoreCmd::Prepend if !present => Status::NotStored,
                        _ => Status::NoError,
                    };
                    if status == Status::NoError {
                        let id = self.pins.new_id();
                        match cmd {
                            StoreCmd::Append | StoreCmd::Prepend => {
                                if let Some((_, data, old)) = self.items.get_mut(key) {
                                    *old = id;
                                    if cmd == StoreCmd::Append {
                                        data.extend_from_slice(value);
                                    } else {
                                        let mut v = value.to_vec();
                                        v.extend_from_slice(data);
                                        *data = v;
                                    }
                                }
                            }
                            _ => {
                                self.items.insert(key.to_vec(), (flags, value.to_vec(), id));
                            }
                        }
                        if !ok_quiet {
                            binary::write_response(&mut out, op, status, opaque, 0, &[], &[], &[]);
                        }
                    } else {
                        binary::write_error(&mut out, op, opaque, status);
                    }
                }
                BinCommand::Delete { key, .. } => {
                    if self.items.remove(key).is_some() {
                        if !ok_quiet {
                            binary::write_response(
                                &mut out,
                                op,
                                Status::NoError,
                                opaque,
                                0,
                                &[],
                                &[],
                                &[],
                            );
                        }
                    } else {
                        binary::write_error(&mut out, op, opaque, Status::KeyNotFound);
                    }
                }
                BinCommand::Arith {
                    incr,
                    key,
                    delta,
                    initial,
                    exptime,
                    ..
                } => match self.items.get_mut(key) {
                    None if exptime == 0xffff_ffff => {
                        binary::write_error(&mut out, op, opaque, Status::KeyNotFound)
                    }
                    None => {
                        let digits = initial.to_string().into_bytes();
                        let id = self.pins.new_id();
                        self.items.insert(key.to_vec(), (0, digits, id));
                        if !ok_quiet {
                            binary::write_counter(&mut out, op, opaque, 0, initial);
                        }
                    }
                    Some((_, data, id)) => match memcache::apply_delta(data, incr, delta) {
                        memcache::Delta::NonNumeric => {
                            binary::write_error(&mut out, op, opaque, Status::DeltaBadValue)
                        }
                        memcache::Delta::Value { value, digits, .. } => {
                            self.pins.store_counter(id, data, &digits);
                            if !ok_quiet {
                                binary::write_counter(&mut out, op, opaque, 0, value);
                            }
                        }
                    },
                },
                other => panic!("toy binary does not run {other:?}"),
            }
        }
        out
    }
}

fn random_binary_pipeline(rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    let keys: [&[u8]; 3] = [b"b0", b"b1", b"n"];
    let datas: [&[u8]; 5] = [b"", b"7", b"10", b"abc", b"18446744073709551615"];
    let mut out = bin_request(0x08, b"", b"", b"", None);
    for i in 0..rng.gen_range(1..30u32) {
        let key = keys[rng.gen_range(0..keys.len())];
        let mut req = match rng.gen_range(0..6) {
            0 | 1 => {
                let op = [0x01, 0x02, 0x03, 0x0e, 0x0f, 0x11, 0x12, 0x19][rng.gen_range(0..8)];
                let data = datas[rng.gen_range(0..datas.len())];
                let extras: Vec<u8> = if matches!(op, 0x0e | 0x0f | 0x19) {
                    Vec::new()
                } else {
                    let mut e = rng.gen_range(0..5u32).to_be_bytes().to_vec();
                    e.extend_from_slice(&0u32.to_be_bytes());
                    e
                };
                bin_request(op, key, &extras, data, None)
            }
            2 | 3 => bin_request(
                [0x00, 0x09, 0x0c, 0x0d][rng.gen_range(0..4)],
                key,
                b"",
                b"",
                None,
            ),
            4 => {
                let op = [0x05, 0x06, 0x15][rng.gen_range(0..3)];
                let mut e = rng.gen_range(0..20u64).to_be_bytes().to_vec();
                e.extend_from_slice(&rng.gen_range(0..200u64).to_be_bytes());
                let exp: u32 = if rng.gen_bool(0.5) { 0 } else { 0xffff_ffff };
                e.extend_from_slice(&exp.to_be_bytes());
                bin_request(op, key, &e, b"", None)
            }
            _ => bin_request([0x04, 0x14][rng.gen_range(0..2)], key, b"", b"", None),
        };
        req[12..16].copy_from_slice(&i.to_be_bytes());
        out.extend_from_slice(&req);
    }
    out.extend_from_slice(&bin_request(0x0a, b"", b"", b"", None));
    out
}

#[test]
fn toy_binary_pipelines_match_memcached() {
    let Ok(addr) = std::env::var("MEMCACHED_ADDR") else {
        return;
    };
    let _turn = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x80);
    let mut compared = 0;
    for _ in 0..300 {
        let input = random_binary_pipeline(&mut rng);
        let mut toy = ToyBinary::default();
        let predicted = toy.run(&input);
        if toy.pins.ambiguous {
            continue;
        }
        compared += 1;
        let actual = ask(&addr, &input, predicted.len());
        assert!(!actual.1, "connection closed");
        assert_eq!(
            split_binary(&actual.0),
            split_binary(&predicted),
            "input {input:?}"
        );
    }
    eprintln!("{compared} binary pipelines compared");
    assert!(compared > 200, "too few unambiguous pipelines: {compared}");
}
