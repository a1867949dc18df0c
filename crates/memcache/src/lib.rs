//! memcached 1.6's wire protocols as pure functions: request parsers and reply encoders,
//! with no I/O, for Ferrocache's memcached engine.
//!
//! Layout:
//! - [`text`]: the text protocol and the meta commands. [`text::parse`] turns the start of a
//!   read buffer into a [`text::Request`] (borrowing keys and data), asks for more bytes, or
//!   returns the exact error memcached would send ([`text::ParseError`]: reply, bytes to
//!   skip, whether to close).
//! - [`meta`]: the meta flags (`mg`/`ms`/`md`/`ma`) decoded into [`meta::MetaFlags`], and
//!   quiet-mode rules.
//! - [`binary`]: the binary protocol: 24-byte headers, per-opcode validation,
//!   [`binary::parse`] into [`binary::BinRequest`], and response encoding.
//! - [`reply`]: writers for text replies (`VALUE ...`, `STORED`, numbers, `END`), meta
//!   replies with returned flags in memcached's order, and the ElastiCache `config get
//!   cluster` answer.
//! - `num` and `b64`: memcached's number parsing (`safe_strtoul` & co.) and its lenient
//!   base64 decoder, which the parsers use so that edge cases answer like memcached.
//!
//! Typical connection loop (text side): append received bytes to a buffer, then
//! `loop { match text::parse(&buf[pos..], &limits) { ... } }`, executing each request and
//! advancing `pos` by `consumed`; on `Incomplete` read more. A buffer starting with byte
//! `0x80` is binary protocol (memcached decides per connection on its first byte).
//!
//! Every error text and edge case here was checked against memcached 1.6.18; the unit tests
//! say which reply the real server gave. `tests/differential.rs` replays parser-decided
//! inputs and random pipelines (run on small toy engines built from this crate) against a
//! live memcached when `MEMCACHED_ADDR` is set; the toys there double as worked examples
//! of the engine-side rules (quiet mode, `ms` modes, counter padding).
//!
//! `-Y` ASCII authentication (`set <any> 0 0 <n>` carrying `user pass` before any other
//! command) has its own small parser, [`auth`].
//!
//! Not covered here (engine or connection concerns): stats contents, and
//! when replies are flushed (memcached writes after 20 requests, on `mn`, or when the read
//! buffer is drained; this decides whether counters are rewritten in place, see
//! [`apply_delta`]).

pub mod auth;
mod b64;
pub mod binary;
pub mod meta;
mod num;
pub mod reply;
pub mod text;

pub use num::{parse_i32, parse_i64, parse_u32, parse_u64};

/// Size limits of a memcached node. `Default` gives memcached's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes without a `\n` after which a text connection is closed (memcached: 2048).
    pub max_line: usize,
    /// The same limit for lines starting with `get `/`gets ` (memcached grows its buffer
    /// without bound; we default to 16 MiB).
    pub max_multiget_line: usize,
    /// The item size limit, memcached's `-I` (default 1 MiB).
    pub item_size_max: usize,
    /// Accept the meta `E` flag (explicit CAS, memcached 1.6.21+). memcached 1.6.18
    /// answers `CLIENT_ERROR invalid flag`, so the default is `false`.
    pub meta_explicit_cas: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 2048,
            max_multiget_line: 16 << 20,
            item_size_max: 1 << 20,
            meta_explicit_cas: false,
        }
    }
}

/// Per-item bytes memcached 1.6.18 counts on top of key and value against `-I` (the item
/// header with CAS, the key's NUL and the value's `\r\n`); 4 more when the client flags
/// are non-zero. Measured: with `-I 1m` key `a` holds at most 1048516 value bytes.
const ITEM_OVERHEAD: usize = 59;

impl Limits {
    /// Whether an item with this key length, client flags and value length fits under
    /// `item_size_max`, the way memcached's `item_size_ok` decides.
    pub fn item_fits(&self, key_len: usize, client_flags: u32, value_len: usize) -> bool {
        let flags_size = if client_flags == 0 { 0 } else { 4 };
        key_len + value_len + ITEM_OVERHEAD + flags_size <= self.item_size_max
    }
}

/// The outcome of `incr`/`decr` (and `ma`) on a stored value, by memcached's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// The new value. `digits` is the reply; `stored` is what memcached keeps: the digits
    /// space-padded to the old length when they fit (memcached rewrites the item in place:
    /// `10` decremented by 5 reads back as `5 `), otherwise the digits alone. memcached only
    /// rewrites in place when no queued reply still references the item; an engine that
    /// never shares items can always pad.
    Value {
        value: u64,
        digits: Vec<u8>,
        stored: Vec<u8>,
    },
    /// `CLIENT_ERROR cannot increment or decrement non-numeric value` (also for an empty
    /// value). memcached checks emptiness before a CAS comparison and the number after it.
    NonNumeric,
}

/// Applies a delta like memcached's `do_add_delta`: the value is read with `strtoull` rules
/// (leading whitespace, trailing whitespace or NUL allowed), `incr` wraps at 2^64, `decr`
/// stops at 0.
pub fn apply_delta(data: &[u8], incr: bool, delta: u64) -> Delta {
    if data.is_empty() {
        return Delta::NonNumeric;
    }
    let Some(value) = parse_u64(data) else {
        return Delta::NonNumeric;
    };
    let value = if incr {
        value.wrapping_add(delta)
    } else {
        value.saturating_sub(delta)
    };
    let digits = itoa::Buffer::new().format(value).as_bytes().to_vec();
    let mut stored = digits.clone();
    if digits.len() <= data.len() {
        stored.resize(data.len(), b' ');
    }
    Delta::Value {
        value,
        digits,
        stored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_follow_memcached() {
        // memcached: "set n 0 0 2 / 10", "decr n 5" -> 5, then get -> "5 ".
        assert_eq!(
            apply_delta(b"10", false, 5),
            Delta::Value {
                value: 5,
                digits: b"5".to_vec(),
                stored: b"5 ".to_vec()
            }
        );
        // "incr n 100" on "5 " -> 105, a new 3-byte item.
        assert_eq!(
            apply_delta(b"5 ", true, 100),
            Delta::Value {
                value: 105,
                digits: b"105".to_vec(),
                stored: b"105".to_vec()
            }
        );
        // incr wraps: 18446744073709551615 + 1 -> 0.
        assert!(matches!(
            apply_delta(b"18446744073709551615", true, 1),
            Delta::Value { value: 0, .. }
        ));
        assert!(matches!(
            apply_delta(b" 5", true, 1),
            Delta::Value { value: 6, .. }
        ));
        assert_eq!(apply_delta(b"", true, 1), Delta::NonNumeric);
        assert_eq!(apply_delta(b"abc", true, 1), Delta::NonNumeric);
        assert_eq!(apply_delta(b"5x", true, 1), Delta::NonNumeric);
        assert!(matches!(
            apply_delta(b"5 x", true, 1),
            Delta::Value { value: 6, .. }
        ));
        assert!(matches!(
            apply_delta(b"5\0x", true, 1),
            Delta::Value { value: 6, .. }
        ));
    }

    #[test]
    fn item_size_boundaries_match_memcached() {
        // Measured on memcached 1.6.18 -I 1m by bisection of `set`.
        let l = Limits::default();
        assert!(l.item_fits(1, 0, 1_048_516));
        assert!(!l.item_fits(1, 0, 1_048_517));
        assert!(l.item_fits(250, 0, 1_048_267));
        assert!(!l.item_fits(250, 0, 1_048_268));
        assert!(l.item_fits(1, 1, 1_048_512));
        assert!(!l.item_fits(1, 1, 1_048_513));
        assert!(l.item_fits(100, 7, 1_048_413));
        assert!(!l.item_fits(100, 7, 1_048_414));
    }
}
