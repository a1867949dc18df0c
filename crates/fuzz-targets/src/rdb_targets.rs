//! `rdb_load`, `rdb_object`, `rdb_packed`, `dump_payload`: the RDB
//! formats. A whole file through `persist::file::load` (the streaming
//! loader the server starts with and DEBUG RELOAD uses), one object through
//! `persist::object::read_value`, the packed encodings of the pure `rdb`
//! crate, and a DUMP payload as RESTORE reads it.

use std::io::Cursor;

use keyspace::Value;
use persist::file::{Access, LoadSink};
use persist::object::{is_object_type, read_value, write_value};
use rdb::{dump, encoding, intset, listpack, lzf, ziplist, zipmap, Element};
use types::Limits;

/// A load sink that keeps nothing: it counts what the loader hands over.
#[derive(Default)]
struct CountingSink {
    keys: u64,
    aux: u64,
    functions: u64,
}

impl LoadSink for CountingSink {
    fn aux(&mut self, _name: &[u8], _value: &[u8]) {
        self.aux += 1;
    }

    fn function(&mut self, _code: Vec<u8>) -> Result<(), String> {
        self.functions += 1;
        Ok(())
    }

    fn key(
        &mut self,
        _db: usize,
        _key: Vec<u8>,
        _value: Value,
        _expire_ms: Option<u64>,
        _access: Access,
    ) -> Result<(), String> {
        self.keys += 1;
        Ok(())
    }
}

/// Number of elements of a value (a string counts its bytes).
fn value_len(v: &Value) -> u64 {
    match v {
        Value::Str(s) => s.len() as u64,
        Value::List(l) => l.len() as u64,
        Value::Hash(h) => h.len() as u64,
        Value::Set(s) => s.len() as u64,
        Value::ZSet(z) => z.len() as u64,
        Value::Stream(s) => s.len(),
    }
}

/// `rdb_load`: a whole RDB file through the loader, checksum verified
/// (`rdbchecksum yes`, the default), into a sink that counts what it gets.
pub fn rdb_load(data: &[u8]) {
    let mut sink = CountingSink::default();
    if let Ok(stats) = persist::file::load(Cursor::new(data), &mut sink, &Limits::default(), true) {
        assert_eq!(
            stats.keys, sink.keys,
            "load stats disagree with the keys handed over"
        );
    }
}

/// Writes `v` back as an RDB object and reads it again: the copy must be
/// the same type with as many elements, and the read must consume exactly
/// what was written.
fn check_roundtrip(v: &Value, limits: &Limits) {
    let mut out = Vec::new();
    write_value(&mut out, v, true);
    let mut pos = 1;
    let again = read_value(out[0], &out, &mut pos, limits);
    let again = match again {
        Ok(Some(again)) => again,
        other => panic!(
            "a {} of {} elements written as type {} does not read back: {:?}",
            v.type_name(),
            value_len(v),
            out[0],
            other.map(|o| o.map(|x| x.type_name()))
        ),
    };
    assert_eq!(pos, out.len(), "read back {} of {} bytes", pos, out.len());
    assert_eq!(v.type_name(), again.type_name());
    assert_eq!(
        value_len(v),
        value_len(&again),
        "{} length changed",
        v.type_name()
    );
}

/// `rdb_object`: first byte = object type, the rest its body; what
/// decodes must survive a write and a second read.
pub fn rdb_object(data: &[u8]) {
    let Some((&rdb_type, _)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let mut pos = 1;
    if let Ok(Some(v)) = read_value(rdb_type, data, &mut pos, &limits) {
        assert!(pos <= data.len());
        check_roundtrip(&v, &limits);
    }
}

fn element_bytes(elements: &[Element<'_>]) -> Vec<Vec<u8>> {
    elements.iter().map(|e| e.to_vec()).collect()
}

/// `rdb_packed`: first byte selects a decoder of the pure `rdb` crate,
/// the rest is its input. Decoders with an encoder are checked to round-trip.
pub fn rdb_packed(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => {
            if let Ok(elements) = listpack::decode(rest) {
                let bytes = element_bytes(&elements);
                let blob = listpack::encode(bytes.iter().map(|b| b.as_slice()));
                let again = listpack::decode(&blob).expect("an encoded listpack decodes");
                assert_eq!(bytes, element_bytes(&again));
            }
        }
        1 => {
            let _ = ziplist::decode(rest);
        }
        2 => {
            let _ = ziplist::decode_pairs(rest);
        }
        3 => {
            if let Ok(ints) = intset::decode(rest) {
                let mut sorted = ints.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(ints, sorted, "a decoded intset is sorted and unique");
                let again =
                    intset::decode(&intset::encode(&ints)).expect("an encoded intset decodes");
                assert_eq!(ints, again);
            }
        }
        4 => {
            let _ = zipmap::decode(rest);
        }
        5 => {
            // Two bytes of expected length, then LZF data.
            if rest.len() >= 2 {
                let out_len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
                if let Some(out) = lzf::decompress(&rest[2..], out_len) {
                    assert_eq!(out.len(), out_len);
                }
            }
        }
        6 => {
            if let Some(packed) = lzf::compress(rest, rest.len()) {
                assert!(packed.len() <= rest.len());
                let back =
                    lzf::decompress(&packed, rest.len()).expect("compressed data decompresses");
                assert_eq!(back, rest);
            }
        }
        _ => {
            // A run of length-prefixed strings, as RDB fields are read.
            let mut pos = 0;
            while pos < rest.len() {
                let before = pos;
                if encoding::read_string(rest, &mut pos).is_err() {
                    break;
                }
                assert!(pos > before && pos <= rest.len());
            }
        }
    }
}

/// `dump_payload`: a DUMP payload as RESTORE reads it. The raw input goes
/// through the footer check; then, so the fuzzer reaches the object reader
/// without forging CRC64, the same bytes with their checksum recomputed.
pub fn dump_payload(data: &[u8]) {
    restore(data);
    if data.len() >= 10 {
        let mut fixed = data.to_vec();
        let end = fixed.len() - 8;
        let crc = rdb::crc64(0, &fixed[..end]);
        fixed[end..].copy_from_slice(&crc.to_le_bytes());
        let version = u16::from_le_bytes([fixed[end - 2], fixed[end - 1]]);
        let opened = dump::open(&fixed);
        assert_eq!(
            opened.is_some(),
            version <= rdb::RDB_VERSION,
            "footer check of a sealed payload"
        );
        restore(&fixed);
    }
}

/// RESTORE's reading of a payload (engine's `restore`): footer, type byte,
/// then the object read from the whole payload.
fn restore(payload: &[u8]) {
    let Some((body, _version)) = dump::open(payload) else {
        return;
    };
    let Some((&rdb_type, _)) = body.split_first() else {
        return;
    };
    if !is_object_type(rdb_type) {
        return;
    }
    let limits = Limits::default();
    let mut pos = 1;
    if let Ok(Some(v)) = read_value(rdb_type, payload, &mut pos, &limits) {
        check_roundtrip(&v, &limits);
    }
}
